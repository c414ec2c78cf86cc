"""Datasets: the registry of entries (built-in shapes, torchvision's, a user's image folder), loading
into uint8 tensors, class selection, splitting, caching, normalization, augmentation and batching.

Torch-side; `catalog`, `source` and `resolve` import no torch, so the pre-flight and `cnnlab shape`
can learn a dataset's shape and classes without it. May import: cnnlab.spec, cnnlab.util,
cnnlab.errors, cnnlab.registry, cnnlab.lazy.
"""
