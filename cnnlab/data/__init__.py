"""Datasets: the registry, loading into uint8 tensors, splitting, normalization and batching."""
