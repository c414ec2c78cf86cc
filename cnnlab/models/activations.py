"""Activation functions by name. Each entry returns a fresh nn.Module.

Beside each entry, GAINS says how much an initialization must scale the weights in front of it so
that the signal keeps its size from layer to layer, and where that number comes from.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnlab.lazy import nn, torch
from cnnlab.registry import Registry

ACTIVATIONS = Registry("activation")


@ACTIVATIONS.register("sigmoid", "1 / (1 + e^-x): saturates, outputs not zero-centred")
def sigmoid():
    return nn.Sigmoid()


@ACTIVATIONS.register("tanh", "tanh(x): zero-centred, still saturates")
def tanh():
    return nn.Tanh()


@ACTIVATIONS.register("relu", "max(0, x)")
def relu():
    return nn.ReLU()


@ACTIVATIONS.register("leaky_relu", "max(x, a·x) with a small slope a for x < 0")
def leaky_relu(*, negative_slope: float = 0.01):
    return nn.LeakyReLU(negative_slope)


def _scaled_tanh_module():
    """LeCun et al. (1998), appendix A: f(a) = 1.7159 · tanh(2a/3), so that f(±1) = ±1."""

    class ScaledTanh(nn.Module):
        def __init__(self, amplitude: float, slope: float) -> None:
            super().__init__()
            self.amplitude, self.slope = amplitude, slope

        def forward(self, x):
            return self.amplitude * torch.tanh(self.slope * x)

        def extra_repr(self) -> str:
            return f"amplitude={self.amplitude}, slope={self.slope}"

    return ScaledTanh


@ACTIVATIONS.register("scaled_tanh", "LeNet-5's 1.7159·tanh(2x/3)")
def scaled_tanh(*, amplitude: float = 1.7159, slope: float = 2 / 3):
    return _scaled_tanh_module()(amplitude, slope)


@ACTIVATIONS.register("elu", "x for x > 0, a·(e^x − 1) otherwise")
def elu(*, alpha: float = 1.0):
    return nn.ELU(alpha)


@ACTIVATIONS.register("gelu", "x·Φ(x)")
def gelu():
    return nn.GELU()


@ACTIVATIONS.register("silu", "x·sigmoid(x) (swish)")
def silu():
    return nn.SiLU()


@ACTIVATIONS.register("identity", "no nonlinearity: the network collapses to a linear map")
def identity():
    return nn.Identity()


# ------------------------------------------------------------------------------------------- gains
#
# He et al. (2015) keep the second moment of the pre-activations y fixed from layer to layer:
# Var[y_l] = fan_in · Var[w_l] · E[x_l²], with x_l = f(y_{l-1}). For y ~ N(0, 1), choosing
# Var[w] = gain² / fan_in with gain = 1 / sqrt(E[f(z)²]), z ~ N(0, 1), makes unit variance a fixed
# point. For ReLU E[f(z)²] = 1/2, so the rule gives He's √2 exactly. The first layer reads the image,
# not an activation's output, so Kaiming gives it gain 1 (He et al. §2.2; inits.Target.forward_gain):
# for ReLU any variance is a fixed point and this changes nothing, but GELU and SiLU are not
# positively homogeneous and their fixed point at 1 is unstable (the variance map's slope there is
# 1.14 and 1.17): started at the variance gain² instead of 1, a 20-layer plain SiLU net grows ~15×.
# Even started at 1, a finite width's random deviations are amplified, so deep plain GELU/SiLU
# stacks drift (either way) more than ReLU ones.


def _phi(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def second_moment(f: Callable[[float], float], half_width: float = 12.0, steps: int = 4800) -> float:
    """E[f(z)²] for z ~ N(0, 1), by Simpson's rule on [−12, 12] (the tails beyond hold < 1e-30 of the mass)."""
    h = 2 * half_width / steps
    total = 0.0
    for i in range(steps + 1):
        z = -half_width + i * h
        weight = 1 if i in (0, steps) else 4 if i % 2 else 2
        total += weight * f(z) ** 2 * _phi(z)
    return total * h / 3


@functools.lru_cache(maxsize=64)
def _derived(name: str, options: tuple[tuple[str, Any], ...]) -> float:
    return 1 / math.sqrt(second_moment(functools.partial(SCALAR[name], **dict(options))))


def _elu(x: float, alpha: float) -> float:
    return x if x > 0 else alpha * math.expm1(x)


SCALAR: dict[str, Callable[..., float]] = {
    "scaled_tanh": lambda x, amplitude, slope: amplitude * math.tanh(slope * x),
    "elu": _elu,
    "gelu": lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2))),  # nn.GELU's exact form (approximate='none')
    "silu": lambda x: x / (1 + math.exp(-x)) if x > -700 else 0.0,
}
"""The activations whose gain is derived numerically: f in plain Python, with the module's options."""


@dataclass(frozen=True)
class Gain:
    """An activation's gain (a function of its options) and where the number comes from."""

    value: Callable[[dict[str, Any]], float]
    origin: str


def _second_moment_rule(name: str) -> Gain:
    return Gain(lambda options: _derived(name, tuple(sorted(options.items()))),
                "the second-moment rule 1/sqrt(E[f(z)²]), integrated numerically for the options given")


GAINS: dict[str, Gain] = {
    "relu": Gain(lambda o: math.sqrt(2), "He et al. (2015): E[relu(z)²] = 1/2, so √2 (the second-moment rule, exact)"),
    "leaky_relu": Gain(lambda o: math.sqrt(2 / (1 + o["negative_slope"] ** 2)),
                       "He et al. (2015): sqrt(2/(1 + a²)) for slope a (the second-moment rule, exact)"),
    "tanh": Gain(lambda o: 5 / 3, "PyTorch's calculate_gain('tanh') = 5/3, an empirical choice under which deep "
                                  "tanh nets settle at a pre-activation std of about 1.09 (the second-moment "
                                  "rule would give 1.59)"),
    "sigmoid": Gain(lambda o: 1.0, "PyTorch's calculate_gain('sigmoid') = 1 (the second-moment rule would give "
                                   "1.85; sigmoid's non-zero mean and slope of at most 1/4 dominate either way)"),
    "identity": Gain(lambda o: 1.0, "a linear unit: E[z²] = 1"),
    "scaled_tanh": _second_moment_rule("scaled_tanh"),  # 1.154 for 1.7159·tanh(2x/3)
    "elu": _second_moment_rule("elu"),  # 1.245 for alpha 1
    "gelu": _second_moment_rule("gelu"),  # 1.534
    "silu": _second_moment_rule("silu"),  # 1.677
}
"""Activation name → its gain for Kaiming initialization (and for `gain: auto` of xavier_* and
orthogonal). Every registered activation has one; a test checks each against its definition."""


def gain(name: str, options: dict[str, Any]) -> float:
    """The gain of activation `name` with `options` (defaults filled in; see GAINS)."""
    return GAINS[name].value(ACTIVATIONS.validate_options(name, dict(options)))
