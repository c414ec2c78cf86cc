"""What each layer does to a shape: output shape, parameters, MACs and how it maps positions.

This is the one home of every layer rule (windows that must fit, pooling padding, groups that
divide, norms that need feature maps or more than one position ...). `cnnlab shape`, the ad-hoc
layer syntax and the pre-flight of `cnnlab train` all ask it, so they raise a ShapeError exactly
where building or running the torch module would fail, and nowhere else.

Conventions (shown to users by cnnlab.shape.report):
- params: trainable weights and biases; a Norm owns 2·channels (scale and shift) when affine; a
  Subsample 2·channels (coefficient and bias).
- MACs: multiply-accumulates of Conv, ConvTranspose and Linear layers, and the one multiply per output
  of a Subsample; FLOPs ≈ 2·MACs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from math import prod

from cnnlab.shape.axis import (
    AxisSize,
    check_pool_padding,
    check_window,
    conv_size,
    conv_transpose_size,
    effective_kernel,
    pool_size,
    require_at_least,
    same_padding,
)
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
    Pair,
    Pool,
    Shape,
    ShapeError,
    Subsample,
    pair_text,
    shape_text,
)

AXES = ("height", "width")
MACS_CONVENTION = "MACs = multiply-accumulates of the weighted layers; FLOPs ≈ 2·MACs"


def _check_groups(kind: str, in_channels: int, out_channels: int, groups: int) -> None:
    require_at_least(f"{kind} groups", groups, 1)
    for side, channels in (("in", in_channels), ("out", out_channels)):
        if channels % groups:
            raise ShapeError(f"{kind} {side}_channels {channels} is not divisible by groups {groups}")


def _feature_map(shape: Shape, kind: str) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"{kind} needs a C×H×W feature map, got the flat shape {shape_text(shape)}")
    return shape


def _check_in_channels(kind: str, expected: int, shape: Shape) -> None:
    if shape[0] != expected:
        raise ShapeError(
            f"{kind} expects {expected} input channels, but its input {shape_text(shape)} has {shape[0]}"
        )


@dataclass(frozen=True)
class Window:
    """How a layer maps positions (per axis): the receptive-field recurrence needs only this."""

    kernel: Pair  # effective (dilated) span
    stride: Pair
    left_padding: Pair


KEEP = "keep"  # element-wise layers: same positions, same field
WHOLE = "whole"  # flatten, linear, global pooling: every unit sees the whole input
UNKNOWN = "unknown"  # transposed convolution: the field depends on the unit's position


@dataclass(frozen=True)
class Step:
    """What one layer does to a shape."""

    out_shape: Shape
    params: int = 0
    macs: int = 0
    positions: Window | str = KEEP
    formulas: tuple[str, ...] = ()


def per_axis(fn: Callable, *columns) -> tuple:
    """fn applied to the (height, width) entries of each column: one result per axis."""
    return tuple(fn(*args) for args in zip(*columns, strict=True))


def _axis_formulas(sizes: tuple[AxisSize, ...]) -> tuple[str, ...]:
    if sizes[0].formula == sizes[1].formula:
        return (f"H, W: {sizes[0].formula}",)
    return (f"H: {sizes[0].formula}", f"W: {sizes[1].formula}")


def conv_padding(layer: Conv) -> tuple[Pair, ...]:
    """(left, right) padding per axis, resolving 'same' and 'valid' as PyTorch does."""
    if layer.padding == "valid":
        return ((0, 0), (0, 0))
    if layer.padding == "same":
        if layer.stride != (1, 1):
            raise ShapeError(
                f"padding 'same' needs stride 1 (PyTorch does not support it for strided convolutions), "
                f"got stride {pair_text(layer.stride)}; give the padding as a number instead"
            )
        return per_axis(same_padding, layer.kernel_size, layer.dilation)
    if isinstance(layer.padding, str):
        raise ShapeError(f"conv padding must be a number, a pair, 'same' or 'valid', got {layer.padding!r}")
    require_at_least("conv padding", layer.padding, 0)
    return tuple((p, p) for p in layer.padding)


def _check_connections(layer: Conv) -> None:
    """A connection table names, for each output channel, distinct input channels that exist."""
    table = layer.connections
    if layer.groups != 1:
        raise ShapeError("conv connections and groups do not combine; use one or the other")
    if len(table) != layer.out_channels:
        raise ShapeError(f"conv connections list {len(table)} output channels, but the layer has "
                         f"{layer.out_channels}")
    for j, inputs in enumerate(table):
        if not inputs or len(set(inputs)) != len(inputs) or not all(0 <= i < layer.in_channels for i in inputs):
            raise ShapeError(f"conv connections[{j}] = {list(inputs)}: each output channel needs distinct input "
                             f"channels between 0 and {layer.in_channels - 1}")


def _conv(layer: Conv, shape: Shape) -> Step:
    _feature_map(shape, "conv")
    check_window("conv", layer.kernel_size, layer.stride, layer.dilation)
    _check_groups("conv", layer.in_channels, layer.out_channels, layer.groups)
    pads = conv_padding(layer)
    _check_in_channels("conv", layer.in_channels, shape)
    sizes = per_axis(conv_size, shape[1:], layer.kernel_size, layer.stride, pads, layer.dilation, AXES)
    out = (layer.out_channels, sizes[0].size, sizes[1].size)
    if layer.connections is None:
        kernels = layer.out_channels * layer.in_channels // layer.groups
    else:
        _check_connections(layer)
        kernels = sum(len(inputs) for inputs in layer.connections)
    weights = kernels * prod(layer.kernel_size)
    return Step(
        out_shape=out,
        params=weights + (layer.out_channels if layer.bias else 0),
        macs=prod(out[1:]) * weights,
        positions=Window(
            kernel=per_axis(effective_kernel, layer.kernel_size, layer.dilation),
            stride=layer.stride,
            left_padding=(pads[0][0], pads[1][0]),
        ),
        formulas=_axis_formulas(sizes),
    )


def _conv_transpose(layer: ConvTranspose, shape: Shape) -> Step:
    _feature_map(shape, "transposed conv")
    check_window("transposed conv", layer.kernel_size, layer.stride, layer.dilation)
    _check_groups("transposed conv", layer.in_channels, layer.out_channels, layer.groups)
    require_at_least("transposed conv padding", layer.padding, 0)
    require_at_least("transposed conv output_padding", layer.output_padding, 0)
    for axis, op, s, d in zip(AXES, layer.output_padding, layer.stride, layer.dilation, strict=True):
        if op >= s and op >= d:
            raise ShapeError(
                f"transposed conv output_padding {op} ({axis}) must be smaller than the stride {s} "
                f"or the dilation {d}"
            )
    _check_in_channels("transposed conv", layer.in_channels, shape)
    sizes = per_axis(
        conv_transpose_size, shape[1:], layer.kernel_size, layer.stride, layer.padding, layer.output_padding,
        layer.dilation, AXES,
    )
    out = (layer.out_channels, sizes[0].size, sizes[1].size)
    # Each input value is scattered through a kernel into out_channels/groups outputs.
    weights_per_input = layer.out_channels // layer.groups * prod(layer.kernel_size)
    return Step(
        out_shape=out,
        params=layer.in_channels * weights_per_input + (layer.out_channels if layer.bias else 0),
        macs=prod(shape) * weights_per_input,
        positions=UNKNOWN,
        formulas=_axis_formulas(sizes),
    )


def _pool(layer: Pool, shape: Shape) -> Step:
    _feature_map(shape, f"{layer.kind} pool")
    if layer.kind not in ("max", "avg"):
        raise ShapeError(f"pool kind must be 'max' or 'avg', got {layer.kind!r}")
    check_window(f"{layer.kind} pool", layer.kernel_size, layer.stride, layer.dilation)
    if layer.kind == "avg" and layer.dilation != (1, 1):
        raise ShapeError(
            f"avg pooling has no dilation in PyTorch (nn.AvgPool2d), got dilation {pair_text(layer.dilation)}"
        )
    check_pool_padding(layer.kernel_size, layer.padding)
    sizes = per_axis(
        pool_size, shape[1:], layer.kernel_size, layer.stride, layer.padding, layer.dilation,
        (layer.ceil_mode,) * 2, AXES,
    )
    return Step(
        out_shape=(shape[0], sizes[0].size, sizes[1].size),
        positions=Window(
            kernel=per_axis(effective_kernel, layer.kernel_size, layer.dilation),
            stride=layer.stride,
            left_padding=layer.padding,
        ),
        formulas=_axis_formulas(sizes),
    )


def _subsample(layer: Subsample, shape: Shape) -> Step:
    _feature_map(shape, "subsampling")
    check_window("subsampling", layer.kernel_size, layer.stride, (1, 1))
    check_pool_padding(layer.kernel_size, layer.padding)
    if shape[0] != layer.channels:
        raise ShapeError(f"subsampling is built for {layer.channels} maps, but its input {shape_text(shape)} "
                         f"has {shape[0]}")
    sizes = per_axis(pool_size, shape[1:], layer.kernel_size, layer.stride, layer.padding, (1, 1),
                     (layer.ceil_mode,) * 2, AXES)
    out = (shape[0], sizes[0].size, sizes[1].size)
    return Step(
        out_shape=out,
        params=2 * layer.channels,
        macs=prod(out),
        positions=Window(kernel=layer.kernel_size, stride=layer.stride, left_padding=layer.padding),
        formulas=_axis_formulas(sizes),
    )


def _global_avg_pool(layer: GlobalAvgPool, shape: Shape) -> Step:
    c, h, w = _feature_map(shape, "global average pooling")
    return Step(out_shape=(c,), positions=WHOLE, formulas=(f"mean over {h}×{w} per channel → {c}",))


def _flatten(layer: Flatten, shape: Shape) -> Step:
    if len(shape) == 1:
        return Step(out_shape=shape, positions=WHOLE, formulas=("already flat",))
    return Step(
        out_shape=(prod(shape),),
        positions=WHOLE,
        formulas=(f"{'·'.join(str(n) for n in shape)} = {prod(shape)}",),
    )


def _linear(layer: Linear, shape: Shape) -> Step:
    if len(shape) != 1:
        raise ShapeError(
            f"linear needs a flat input, got the feature map {shape_text(shape)}; put a flatten or global "
            "average pooling before it"
        )
    if shape[0] != layer.in_features:
        raise ShapeError(f"linear expects {layer.in_features} input features, but its input has {shape[0]}")
    return Step(
        out_shape=(layer.out_features,),
        params=layer.in_features * layer.out_features + (layer.out_features if layer.bias else 0),
        macs=layer.in_features * layer.out_features,
        positions=WHOLE,
        formulas=(f"{layer.in_features} → {layer.out_features}",),
    )


def _norm(layer: Norm, shape: Shape) -> Step:
    if shape[0] != layer.channels:
        raise ShapeError(
            f"{layer.kind} norm is built for {layer.channels} channels, but its input "
            f"{shape_text(shape)} has {shape[0]}"
        )
    if layer.spatial != (len(shape) == 3):
        built, given = ("feature maps", "the flat") if layer.spatial else ("vectors", "the feature map")
        raise ShapeError(f"{layer.kind} norm is built for {built}, but its input is {given} shape "
                         f"{shape_text(shape)}")
    NORM_RULES.get(layer.kind, _any_shape)(layer, shape)
    return Step(out_shape=shape, params=2 * layer.channels if layer.affine else 0)


def _any_shape(layer: Norm, shape: Shape) -> None:
    """batch and layer norm take feature maps and vectors alike."""


def _instance_rule(layer: Norm, shape: Shape) -> None:
    """Instance norm normalizes each channel of each image over its positions: it needs feature maps,
    and more than one position (on a 1×1 map every output would be 0; torch refuses to train it)."""
    if len(shape) != 3:
        raise ShapeError(f"instance norm needs C×H×W feature maps, got the flat shape {shape_text(shape)} "
                         "(fully-connected layers have no positions to normalize over); use batch, layer or group")
    if shape[1] * shape[2] < 2:
        raise ShapeError(f"instance norm on a {shape[1]}×{shape[2]} map: each channel would be normalized over a "
                         "single position (torch refuses to train it); use batch, layer or group norm here")


def _group_rule(layer: Norm, shape: Shape) -> None:
    """Group norm splits the channels into num_groups equal groups."""
    groups = dict(layer.options).get("num_groups", 1)
    if groups < 1 or layer.channels % groups:
        raise ShapeError(f"group norm, num_groups={groups}: needs a channel count divisible by {groups}, "
                         f"but this layer has {layer.channels}")


NORM_RULES: dict[str, Callable[[Norm, Shape], None]] = {"instance": _instance_rule, "group": _group_rule}
"""Norm kind → its structural rule, beyond matching channels (kinds absent here accept any shape)."""


def _same_shape(layer: Activation | Dropout, shape: Shape) -> Step:
    return Step(out_shape=shape)


RULES: dict[type, Callable[[Layer, Shape], Step]] = {
    Conv: _conv,
    ConvTranspose: _conv_transpose,
    Pool: _pool,
    Subsample: _subsample,
    GlobalAvgPool: _global_avg_pool,
    Flatten: _flatten,
    Linear: _linear,
    Norm: _norm,
    Activation: _same_shape,
    Dropout: _same_shape,
}
"""Layer type → the rule that computes its Step; the single place to teach a new layer."""


def step(layer: Layer, shape: Shape) -> Step:
    """Everything one layer does to an input of `shape` (one image: C×H×W or F)."""
    return RULES[type(layer)](layer, tuple(shape))


def output_shape(layer: Layer, shape: Shape) -> Shape:
    """The shape `layer` produces from one image of `shape`; ShapeError where torch would raise."""
    return step(layer, shape).out_shape
