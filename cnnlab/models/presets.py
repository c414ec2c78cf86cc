"""Named architectures. A preset is a set of `model:` keys; keys written in the spec override it."""

from __future__ import annotations

from typing import Any

from cnnlab.registry import Registry

PRESETS = Registry("preset")


@PRESETS.register("lenet5", "LeNet-5, modern reading: ReLU, max pooling, full connections; 61,706 params on 32×32")
def lenet5() -> dict[str, Any]:
    # Departs from LeCun et al. (1998) on purpose, as most courses teach it today: ReLU instead of the
    # scaled tanh, parameter-free max pooling instead of trainable subsampling, C3 connected to all six
    # maps instead of Table I's 60 connections, Kaiming init, a softmax head. On 28×28 MNIST set
    # `data.pad: 2` to get the original 32×32 geometry (5×5×16 before fc).
    return {
        "kind": "cnn", "activation": "relu", "init": "kaiming_normal", "norm": "none", "global_pool": False,
        "conv": [
            {"out_channels": 6, "kernel_size": 5, "pool": {"type": "max", "kernel_size": 2}},
            {"out_channels": 16, "kernel_size": 5, "pool": {"type": "max", "kernel_size": 2}},
        ],
        "fc": [120, 84], "dropout": 0.0, "head": "softmax",
    }


@PRESETS.register("lenet5_classic", "LeNet-5 as in LeCun et al. (1998): 1.7159·tanh(2a/3), trainable "
                                    "subsampling, C3's Table I; 60,000 params + a softmax head (850)")
def lenet5_classic() -> dict[str, Any]:
    # On a 32×32 input, layer by layer as the paper counts its trainable parameters:
    #   C1 conv 6@5×5 (156) · S2 subsampling (12) · C3 conv 16@5×5 over Table I's 60 connections
    #   (1,516) · S4 subsampling (32) · C5 conv 120@5×5 on a 5×5 map (48,120) · F6 fc 84 (10,164):
    #   60,000, each followed by f(a) = 1.7159·tanh(2a/3); weights U(±2.4/F_i), F_i the unit's fan-in.
    # Where cnnlab departs from the paper: the output is a softmax linear head (84 → classes, +850 for
    # ten), not the Euclidean RBF units over fixed ±1 7×12 bitmaps of the characters, which the paper
    # shows only as a picture (Fig. 3) and does not list; training is cnnlab's (SGD by default, not
    # the stochastic diagonal Levenberg-Marquardt method) on inputs normalized to mean 0 and std 1
    # (the paper maps background to −0.1 and ink to 1.175, which is close to that on MNIST).
    return {
        "kind": "cnn", "activation": "scaled_tanh", "init": "lecun_uniform", "norm": "none",
        "global_pool": False,
        "conv": [
            {"out_channels": 6, "kernel_size": 5, "pool": {"type": "subsample", "kernel_size": 2}},
            {"out_channels": 16, "kernel_size": 5, "connections": "lenet5",
             "pool": {"type": "subsample", "kernel_size": 2}},
            {"out_channels": 120, "kernel_size": 5},
        ],
        "fc": [84], "dropout": 0.0, "head": "softmax",
    }


@PRESETS.register("vgg_small", "VGG-style: three stages of two 3×3 convs + batch norm, max pooling")
def vgg_small() -> dict[str, Any]:
    def stage(width: int) -> list[dict[str, Any]]:
        return [
            {"out_channels": width, "kernel_size": 3, "padding": "same"},
            {"out_channels": width, "kernel_size": 3, "padding": "same", "pool": {"type": "max", "kernel_size": 2}},
        ]

    return {
        "kind": "cnn", "activation": "relu", "init": "kaiming_normal", "norm": "batch", "global_pool": False,
        "conv": stage(32) + stage(64) + stage(128), "fc": [256], "dropout": 0.3, "head": "softmax",
    }


@PRESETS.register("mlp", "fully-connected baseline: flatten → 256 → 128 → classes")
def mlp() -> dict[str, Any]:
    return {"kind": "mlp", "activation": "relu", "init": "kaiming_normal", "norm": "none",
            "fc": [256, 128], "dropout": 0.0, "head": "softmax"}
