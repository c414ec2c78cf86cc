"""Named architectures. A preset is a set of `model:` keys; keys written in the spec override it."""

from __future__ import annotations

from typing import Any

from cnnlab.registry import Registry

PRESETS = Registry("preset")


@PRESETS.register("lenet5", "LeNet-5, modern reading: ReLU, max pooling; 61,706 params on 32×32 inputs")
def lenet5() -> dict[str, Any]:
    # On 28×28 MNIST set `data.pad: 2` to get the original 32×32 geometry (5×5×16 before fc).
    return {
        "kind": "cnn", "activation": "relu", "init": "kaiming_normal", "norm": "none", "global_pool": False,
        "conv": [
            {"out_channels": 6, "kernel_size": 5, "pool": {"type": "max", "kernel_size": 2}},
            {"out_channels": 16, "kernel_size": 5, "pool": {"type": "max", "kernel_size": 2}},
        ],
        "fc": [120, 84], "dropout": 0.0, "head": "softmax",
    }


@PRESETS.register("lenet5_classic", "LeNet-5 as in LeCun et al. (1998): scaled tanh, average subsampling")
def lenet5_classic() -> dict[str, Any]:
    # C5 is a 5×5 convolution with 120 maps, which on a 32×32 input is a 1×1 map: the same 48,120
    # weights as the "fc 120" of the modern reading. The original RBF output layer is replaced
    # by the usual softmax head; its partial C3 connection table by full connections.
    return {
        "kind": "cnn", "activation": "scaled_tanh", "init": "lecun_uniform", "norm": "none",
        "global_pool": False,
        "conv": [
            {"out_channels": 6, "kernel_size": 5, "pool": {"type": "avg", "kernel_size": 2}},
            {"out_channels": 16, "kernel_size": 5, "pool": {"type": "avg", "kernel_size": 2}},
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
