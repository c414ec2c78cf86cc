"""Weight initialization schemes by name.

Each entry fills one tensor in place. cnnlab supplies the tensor and its Target: the tensor's fan-in
and fan-out, and the gain of the activation after the layer (cnnlab.models.activations.GAINS); the keyword
options are the user's. The formulas are the papers': Glorot & Bengio (2010) for
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
    """Where a tensor sits: its unit's inputs (fan_in), the units each input feeds (fan_out), the gain
    of the activation applied to its output (cnnlab.models.activations.GAINS; 1 for none, e.g. the
    head), and whether it reads the network's input rather than an activation's output."""

    fan_in: float
    fan_out: float
    gain: float = 1.0
    reads_input: bool = False

    @property
    def forward_gain(self) -> float:
        """The gain that keeps the forward signal's variance (Kaiming's default fan_in mode).

        He et al. (2015) keep Var[y_l] = fan_in · Var[w_l] · E[x_l²] fixed, x_l being the previous
        layer's activation; in a uniform stack its gain is the gain of the activation after the layer,
        PyTorch's convention, which cnnlab follows everywhere but at the first layer: that one reads
        the image, not an activation's output, so fan_in · Var[w_1] = 1 (He et al. §2.2). For ReLU any
        variance is a fixed point and this changes nothing; for GELU and SiLU starting at the variance
        gain² instead of 1 makes a deep plain stack grow (see GAINS). The head keeps gain 1."""
        return 1.0 if self.reads_input else self.gain


VECTOR = Target(1, 1)  # what a bias is initialized as: the schemes allowed for biases use no fans


def _gain(choice: Gain, target: Target) -> float:
    """A user's gain; `auto`: the one Kaiming's default (fan_in) mode uses."""
    return target.forward_gain if choice == "auto" else choice


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
    """He et al. (2015): gain/sqrt(fan_in) keeps the forward signal (Target.forward_gain), and
    gain/sqrt(fan_out) the backward one, whose factor E[f'(y)²] is the layer's own activation's."""
    if mode == "fan_in":
        return target.forward_gain / math.sqrt(target.fan_in)
    return target.gain / math.sqrt(target.fan_out)


@INITS.register("kaiming_normal", "N(0, gain²/fan) with the activation's gain (He et al., 2015); the first layer, "
                                  "which reads the image, gets gain 1 in mode fan_in (§2.2)")
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
