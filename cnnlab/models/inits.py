"""Weight initialization schemes by name.

Each entry initializes one weight tensor in place. cnnlab supplies the tensor and the name of the
activation that follows the layer (so Kaiming/Xavier gains follow the chosen activation); the
keyword options are the user's.
"""

from __future__ import annotations

import math
from typing import Literal

from cnnlab.constraints import NonNegative, Positive
from cnnlab.lazy import init, torch
from cnnlab.models.activations import KAIMING_NONLINEARITY
from cnnlab.registry import Registry

INITS = Registry("init")

FanMode = Literal["fan_in", "fan_out"]


def _gain_args(activation: str, activation_options: dict) -> tuple[str, float | None]:
    """(nonlinearity, param) for torch.nn.init for the activation that follows the layer."""
    nonlinearity = KAIMING_NONLINEARITY.get(activation, "linear")
    param = activation_options.get("negative_slope", 0.01) if nonlinearity == "leaky_relu" else None
    return nonlinearity, param


def gain(activation: str, activation_options: dict) -> float:
    return init.calculate_gain(*_gain_args(activation, activation_options))


@INITS.register("default", "PyTorch's own initialization of each layer (left untouched)")
def default(weight, activation: str, activation_options: dict, /):
    """Nothing to do: the layer keeps the values its constructor drew."""


@INITS.register("zeros", "all zeros: every unit of a layer computes the same thing")
def zeros(weight, activation: str, activation_options: dict, /):
    init.zeros_(weight)


@INITS.register("constant", "every weight the same value")
def constant(weight, activation: str, activation_options: dict, /, *, value: float = 0.01):
    init.constant_(weight, value)


@INITS.register("normal", "N(mean, std²) with a fixed std, whatever the layer size")
def normal(weight, activation: str, activation_options: dict, /, *, mean: float = 0.0, std: NonNegative = 0.01):
    init.normal_(weight, mean, std)


@INITS.register("uniform", "U(low, high) with fixed bounds",
                check=lambda o: None if o["low"] <= o["high"] else f"low {o['low']} is above high {o['high']}")
def uniform(weight, activation: str, activation_options: dict, /, *, low: float = -0.05, high: float = 0.05):
    init.uniform_(weight, low, high)


@INITS.register("xavier_normal", "N(0, gain²·2/(fan_in+fan_out)) (Glorot & Bengio, 2010)")
def xavier_normal(weight, activation: str, activation_options: dict, /):
    init.xavier_normal_(weight, gain(activation, activation_options))


@INITS.register("xavier_uniform", "U(±gain·sqrt(6/(fan_in+fan_out)))")
def xavier_uniform(weight, activation: str, activation_options: dict, /):
    init.xavier_uniform_(weight, gain(activation, activation_options))


@INITS.register("kaiming_normal", "N(0, gain²/fan) (He et al., 2015)")
def kaiming_normal(weight, activation: str, activation_options: dict, /, *, mode: FanMode = "fan_in"):
    nonlinearity, param = _gain_args(activation, activation_options)
    init.kaiming_normal_(weight, a=param or 0.0, mode=mode, nonlinearity=nonlinearity)


@INITS.register("kaiming_uniform", "U(±gain·sqrt(3/fan))")
def kaiming_uniform(weight, activation: str, activation_options: dict, /, *, mode: FanMode = "fan_in"):
    nonlinearity, param = _gain_args(activation, activation_options)
    init.kaiming_uniform_(weight, a=param or 0.0, mode=mode, nonlinearity=nonlinearity)


@INITS.register("orthogonal", "a (semi-)orthogonal matrix scaled by the activation's gain")
def orthogonal(weight, activation: str, activation_options: dict, /):
    init.orthogonal_(weight, gain(activation, activation_options))


@INITS.register("lecun_uniform", "U(±a/fan_in), as in LeCun et al. (1998) with a = 2.4")
def lecun_uniform(weight, activation: str, activation_options: dict, /, *, a: Positive = 2.4):
    fan_in = weight[0].numel()
    bound = a / fan_in
    with torch.no_grad():
        weight.uniform_(-bound, bound)


@INITS.register("lecun_normal", "N(0, 1/fan_in): unit variance for a linear unit")
def lecun_normal(weight, activation: str, activation_options: dict, /):
    init.normal_(weight, 0.0, 1.0 / math.sqrt(weight[0].numel()))
