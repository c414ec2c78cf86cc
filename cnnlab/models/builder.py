"""From a layer plan to a torch model: one nn.Module per plan entry, then initialization."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable

from cnnlab.lazy import nn
from cnnlab.models.activations import ACTIVATIONS
from cnnlab.models.inits import INITS
from cnnlab.models.norms import NORMS
from cnnlab.models.pooling import POOLS
from cnnlab.shape.advice import EVEN_KERNEL_WARNING
from cnnlab.shape.layers import (
    Activation,
    Conv,
    ConvTranspose,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    Linear,
    Norm,
    Plan,
    Pool,
)
from cnnlab.spec import Choice

MODULES: dict[type, Callable[[Layer], object]] = {
    Conv: lambda c: nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation,
                              c.groups, c.bias),
    ConvTranspose: lambda c: nn.ConvTranspose2d(c.in_channels, c.out_channels, c.kernel_size, c.stride,
                                                c.padding, c.output_padding, c.groups, c.bias, c.dilation),
    Pool: lambda p: POOLS.build(p.kind, p),
    GlobalAvgPool: lambda _: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    Flatten: lambda _: nn.Flatten(),
    Linear: lambda f: nn.Linear(f.in_features, f.out_features, f.bias),
    Norm: lambda n: NORMS.build(n.kind, n.channels, n.spatial, **dict(n.options)),
    Activation: lambda a: ACTIVATIONS.build(a.kind, **dict(a.options)),
    Dropout: lambda d: nn.Dropout(d.p),
}


WEIGHTED = (Conv, ConvTranspose, Linear)


def build_model(plan: Plan, init: Choice | None = None, bias_init: Choice | None = None):
    """nn.Sequential with the plan's names as module names (`conv1`, `conv1_norm`, `fc1`, `head` ...),
    its conv and linear layers initialized by `init` (None: PyTorch's own).

    PyTorch's "even kernel lengths" UserWarning (raised at every forward pass of such a layer) is
    silenced: cnnlab says the same in its own words, once, before training (cnnlab.shape.advice)."""
    warnings.filterwarnings("ignore", message=EVEN_KERNEL_WARNING, category=UserWarning)
    model = nn.Sequential(OrderedDict((name, MODULES[type(layer)](layer)) for name, layer in plan))
    if init is not None:
        initialize(model, plan, init, bias_init)
    return model


def initialize(model, plan: Plan, init: Choice, bias_init: Choice | None) -> None:
    """Initialize every weighted layer for the activation that follows it (the head: none).

    Biases: `bias_init` when given; otherwise zeros for the named schemes and PyTorch's own for
    `default`."""
    if bias_init is None and init.name != "default":
        bias_init = Choice("zeros")
    for i, (name, layer) in enumerate(plan):
        if not isinstance(layer, WEIGHTED):
            continue
        activation = _next_activation(plan, i)
        module = getattr(model, name)
        INITS.build(init.name, module.weight, activation.kind, dict(activation.options), **init.options)
        if module.bias is not None and bias_init is not None:
            INITS.build(bias_init.name, module.bias, "identity", {}, **bias_init.options)


def _next_activation(plan: Plan, index: int) -> Activation:
    """The activation applied to this layer's output, before the next weighted layer (identity if none)."""
    for _, layer in plan[index + 1:]:
        if isinstance(layer, WEIGHTED):
            break
        if isinstance(layer, Activation):
            return layer
    return Activation("identity")
