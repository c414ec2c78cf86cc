"""Models: the registries of activations, initializations, norms, pooling and presets, and the
builder that turns a layer plan into a torch module.

Torch-side, but the registry modules import torch lazily (cnnlab.lazy), so the spec can list and
check their options without loading it. May import: cnnlab.shape (the layer IR), cnnlab.spec,
cnnlab.registry, cnnlab.lazy.
"""
