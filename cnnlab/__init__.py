"""cnnlab: a command-line laboratory for convolutional-network experiments."""

__version__ = "0.1.0"
