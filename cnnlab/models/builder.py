"""From a layer plan to a torch model: one nn.Module per plan entry, then initialization."""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cnnlab.lazy import nn
from cnnlab.models.activations import ACTIVATIONS, gain
from cnnlab.models.inits import INITS, VECTOR, Target
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
    Subsample,
)
from cnnlab.spec import Choice


def _conv(c: Conv):
    if c.connections is None:
        return nn.Conv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation, c.groups,
                         c.bias)
    from cnnlab.models.layers import PartialConv2d

    return PartialConv2d(c.in_channels, c.out_channels, c.kernel_size, c.stride, c.padding, c.dilation,
                         c.connections, c.bias)


MODULES: dict[type, Callable[[Layer], object]] = {
    Conv: _conv,
    ConvTranspose: lambda c: nn.ConvTranspose2d(c.in_channels, c.out_channels, c.kernel_size, c.stride,
                                                c.padding, c.output_padding, c.groups, c.bias, c.dilation),
    Pool: lambda p: POOLS.build(p.kind, p),
    Subsample: lambda s: POOLS.build("subsample", s),
    GlobalAvgPool: lambda _: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
    Flatten: lambda _: nn.Flatten(),
    Linear: lambda f: nn.Linear(f.in_features, f.out_features, f.bias),
    Norm: lambda n: NORMS.build(n.kind, n.channels, n.spatial, **dict(n.options)),
    Activation: lambda a: ACTIVATIONS.build(a.kind, **dict(a.options)),
    Dropout: lambda d: nn.Dropout(d.p),
}


WEIGHTED = (Conv, ConvTranspose, Linear, Subsample)


def build_model(plan: Plan, init: Choice | None = None, bias_init: Choice | None = None):
    """nn.Sequential with the plan's names as module names (`conv1`, `conv1_norm`, `fc1`, `head` ...),
    its weighted layers initialized by `init` (None: PyTorch's own).

    PyTorch's "even kernel lengths" UserWarning (raised at every forward pass of such a layer) is
    silenced: cnnlab says the same in its own words, once, before training (cnnlab.shape.advice)."""
    warnings.filterwarnings("ignore", message=EVEN_KERNEL_WARNING, category=UserWarning)
    model = nn.Sequential(OrderedDict((name, MODULES[type(layer)](layer)) for name, layer in plan))
    if init is not None:
        initialize(model, plan, init, bias_init)
    return model


@dataclass(frozen=True)
class Weighted:
    """A layer with weights, and the activation applied to its output before the next one."""

    name: str
    layer: Layer
    activation: Activation  # identity where none follows (the head)
    activation_name: str | None  # its name in the plan; None for identity-by-absence


def weighted_layers(plan: Plan) -> Iterator[Weighted]:
    """Each layer with weights, in order, with the activation after it."""
    for i, (name, layer) in enumerate(plan):
        if isinstance(layer, WEIGHTED):
            yield Weighted(name, layer, *_next_activation(plan, i))


def initialize(model, plan: Plan, init: Choice, bias_init: Choice | None) -> None:
    """Initialize every weighted layer for the activation after it (the head: none), the first one as
    the layer that reads the image (see inits.Target).

    Biases: `bias_init` when given; otherwise zeros for the named schemes and PyTorch's own for
    `default`."""
    if bias_init is None and init.name != "default":
        bias_init = Choice("zeros")
    for i, weighted in enumerate(weighted_layers(plan)):
        module = getattr(model, weighted.name)
        layer_gain = gain(weighted.activation.kind, dict(weighted.activation.options))
        for tensor, fan_in, fan_out in init_views(module):
            INITS.build(init.name, tensor, Target(fan_in, fan_out, layer_gain, reads_input=i == 0), **init.options)
        if module.bias is not None and bias_init is not None:
            INITS.build(bias_init.name, module.bias, VECTOR, **bias_init.options)


def init_views(module) -> list[tuple[object, float, float]]:
    """(tensor, fan_in, fan_out) for the initialization of a module's weights: the views cnnlab's own
    layers define, else the weight with PyTorch's fans (dimension 1 × kernel area in, dimension 0 ×
    kernel area out, as torch.nn.init reads them)."""
    if hasattr(module, "init_views"):
        return module.init_views()
    weight = module.weight
    area = weight[0][0].numel() if weight.dim() > 2 else 1
    return [(weight, weight.shape[1] * area, weight.shape[0] * area)]


def _next_activation(plan: Plan, index: int) -> tuple[Activation, str | None]:
    """The activation applied to this layer's output before the next weighted layer, and its name
    (identity and None if there is none)."""
    for name, layer in plan[index + 1:]:
        if isinstance(layer, WEIGHTED):
            break
        if isinstance(layer, Activation):
            return layer, name
    return Activation("identity"), None
