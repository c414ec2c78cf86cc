"""Weight initialization schemes by name.

Each entry fills one tensor in place. cnnlab supplies the tensor and its Target: the tensor's fan-in
and fan-out, and the gains of the activations around the layer (cnnlab.models.activations.GAINS); the
keyword options are the user's. The formulas are the papers': Glorot & Bengio (2010) for
xavier_*, He et al. (2015) for kaiming_*, Saxe et al. (2014) for orthogonal, LeCun et al. (1998)
for lecun_*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from cnnlab.constraints import NonNegative, Positive
from cnnlab.lazy import init, torch
from cnnlab.registry import Registry

INITS = Registry("init")

FanMode = Literal["fan_in", "fan_out"]
Gain = float | Literal["auto"]  # a number, or `auto`: the gain of the activation after the layer


@dataclass(frozen=True)
class Target:
    """Where a tensor sits: its unit's inputs (fan_in), the units each input feeds (fan_out), and the
    gains (cnnlab.models.activations.GAINS) of the activation whose output the layer reads (gain_in:
    1 for the first layer, which reads the image) and of the activation applied to its output
    (gain_out: 1 for the head).

    He et al. (2015) keep the forward signal with Var[y_l] = fan_in · Var[w_l] · E[x_l²], where x_l
    is the previous layer's activation: so fan_in mode takes gain_in, and their first layer gets
    fan_in · Var[w_1] = 1 "because there is no ReLU applied on the input signal" (§2.2). The backward
    case multiplies by E[f'(y_l)²] of the layer's own activation: fan_out mode takes gain_out. In a
    uniform stack the two are the same number for every layer but the first and the head."""

    fan_in: float
    fan_out: float
    gain_in: float = 1.0
    gain_out: float = 1.0


VECTOR = Target(1, 1)  # what a bias is initialized as: the schemes allowed for biases use no fans


def _gain(choice: Gain, target: Target) -> float:
    """A user's gain; `auto`: the one Kaiming's default (fan_in) mode uses."""
    return target.gain_in if choice == "auto" else choice


@INITS.register("default", "PyTorch's own initialization of each layer (left untouched)")
def default(weight, target: Target, /):
    """Nothing to do: the layer keeps the values its constructor drew."""


@INITS.register("zeros", "all zeros: every unit of a layer computes the same thing")
def zeros(weight, target: Target, /):
    init.zeros_(weight)


@INITS.register("constant", "every weight the same value")
def constant(weight, target: Target, /, *, value: float = 0.01):
    init.constant_(weight, value)


@INITS.register("normal", "N(mean, std²) with a fixed std (default 0.01), whatever the layer size")
def normal(weight, target: Target, /, *, mean: float = 0.0, std: NonNegative = 0.01):
    init.normal_(weight, mean, std)


@INITS.register("uniform", "U(low, high) with fixed bounds (default ±0.05)",
                check=lambda o: None if o["low"] <= o["high"] else f"low {o['low']} is above high {o['high']}")
def uniform(weight, target: Target, /, *, low: float = -0.05, high: float = 0.05):
    init.uniform_(weight, low, high)


@INITS.register("xavier_normal", "N(0, gain²·2/(fan_in+fan_out)) (Glorot & Bengio, 2010); gain 1, as in the paper "
                                 "and torch, unless set (auto: Kaiming's)")
def xavier_normal(weight, target: Target, /, *, gain: Gain = 1.0):
    init.normal_(weight, 0.0, _gain(gain, target) * math.sqrt(2 / (target.fan_in + target.fan_out)))


@INITS.register("xavier_uniform", "U(±gain·sqrt(6/(fan_in+fan_out))) (Glorot & Bengio, 2010); gain 1 unless set "
                                  "(auto: Kaiming's)")
def xavier_uniform(weight, target: Target, /, *, gain: Gain = 1.0):
    bound = _gain(gain, target) * math.sqrt(6 / (target.fan_in + target.fan_out))
    init.uniform_(weight, -bound, bound)


def _kaiming_std(target: Target, mode: FanMode) -> float:
    """He et al. (2015): gain/sqrt(fan_in) with the input's activation gain (forward), or
    gain/sqrt(fan_out) with the output's (backward); see Target."""
    if mode == "fan_in":
        return target.gain_in / math.sqrt(target.fan_in)
    return target.gain_out / math.sqrt(target.fan_out)


@INITS.register("kaiming_normal", "N(0, gain²/fan) (He et al., 2015): gain of the activation the layer reads "
                                  "(1 for the first layer), or with mode fan_out of the one after it")
def kaiming_normal(weight, target: Target, /, *, mode: FanMode = "fan_in"):
    init.normal_(weight, 0.0, _kaiming_std(target, mode))


@INITS.register("kaiming_uniform", "U(±gain·sqrt(3/fan)) (He et al., 2015), gains as kaiming_normal's")
def kaiming_uniform(weight, target: Target, /, *, mode: FanMode = "fan_in"):
    bound = math.sqrt(3) * _kaiming_std(target, mode)
    init.uniform_(weight, -bound, bound)


@INITS.register("orthogonal", "a (semi-)orthogonal matrix × gain (Saxe et al., 2014); gain auto (Kaiming's) "
                              "unless set; torch's own default is 1")
def orthogonal(weight, target: Target, /, *, gain: Gain = "auto"):
    # Rows (one per unit, over its fan_in inputs) are orthonormal when there are no more units than
    # inputs: each unit's weights then have norm `gain`, i.e. variance gain²/fan_in, as Kaiming's; so
    # `auto` keeps the signal's size through the nonlinearity and gain 1 shrinks it, like Xavier's.
    init.orthogonal_(weight, _gain(gain, target))


@INITS.register("lecun_uniform", "U(±a/fan_in), as in LeCun et al. (1998) with a = 2.4")
def lecun_uniform(weight, target: Target, /, *, a: Positive = 2.4):
    bound = a / target.fan_in
    with torch.no_grad():
        weight.uniform_(-bound, bound)


@INITS.register("lecun_normal", "N(0, 1/fan_in): unit variance for a linear unit")
def lecun_normal(weight, target: Target, /):
    init.normal_(weight, 0.0, 1.0 / math.sqrt(target.fan_in))
