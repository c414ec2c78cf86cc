"""Model registries (activations, initializations, norms, pooling, presets) and the builder."""
