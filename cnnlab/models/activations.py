"""Activation functions by name. Each entry returns a fresh nn.Module."""

from __future__ import annotations

from cnnlab.lazy import nn, torch
from cnnlab.registry import Registry

ACTIVATIONS = Registry("activation")

# The `nonlinearity` argument of torch.nn.init.calculate_gain / kaiming_* for each activation, so
# that Kaiming and Xavier gains follow the chosen activation. Absent means "linear" (gain 1).
KAIMING_NONLINEARITY = {"relu": "relu", "leaky_relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid",
                        "scaled_tanh": "tanh", "elu": "relu", "gelu": "relu", "silu": "relu"}


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
    """LeCun et al. (1998): f(x) = 1.7159 · tanh(2x/3), so that f(±1) = ±1."""

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
