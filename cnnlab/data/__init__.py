"""Datasets: the registry of entries (built-in shapes, torchvision's, a user's image folder), loading
into uint8 tensors, class selection, splitting, caching, normalization, augmentation and batching."""
