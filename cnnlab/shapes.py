"""Layer arithmetic without torch: output sizes, receptive fields, parameters and MACs.

The rules mirror PyTorch's own (conv: ConvUtils.h; pooling: Pool.h `pooling_output_shape` and
`pool2d_shape_check`; transposed conv: `slow_conv_transpose2d_shape_check`), so `cnnlab shape` and
the pre-flight check of `cnnlab train` raise a ShapeError exactly where building or running the
torch module would fail, and nowhere else. Importing this module never imports torch.

Conventions (shown to users by `cnnlab.shape_report`):
- params: trainable weights and biases; a Norm owns 2·channels (scale and shift) when affine.
- MACs: multiply-accumulates of Conv, ConvTranspose and Linear layers; FLOPs ≈ 2·MACs.
- receptive field, per axis, in input pixels (padding included): size r, jump j (input pixels
  between neighbouring units: the product of strides) and `first`, the input index where the first
  unit's field starts (negative: it starts in the padding). After flatten, linear or global
  pooling every unit sees the whole input; after a transposed convolution the field depends on the
  unit's position and is not given (None).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from math import prod

from cnnlab.errors import CnnlabError
from cnnlab.layers import (
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
    Plan,
    Pool,
    Shape,
)

AXES = ("height", "width")
MACS_CONVENTION = "MACs = multiply-accumulates (Conv, ConvTranspose, Linear); FLOPs ≈ 2·MACs"


class ShapeError(CnnlabError):
    """A layer cannot take the shape it is given; the message names the rule and the numbers."""


def shape_text(shape: Shape) -> str:
    """(6, 28, 28) → '6×28×28'."""
    return "×".join(str(n) for n in shape)


def pair_text(value: Pair) -> str:
    """(5, 5) → '5'; (5, 3) → '5×3'."""
    return str(value[0]) if value[0] == value[1] else f"{value[0]}×{value[1]}"


# ---------------------------------------------------------------- one spatial axis


@dataclass(frozen=True)
class AxisSize:
    """One spatial axis through one layer: the output size and the filled-in formula that gave it."""

    size: int
    formula: str


def _too_small(axis: str, formula: str, why: str) -> ShapeError:
    return ShapeError(f"output {axis} ({formula}) is below 1; {why}")


def _sliding(out: int, formula: str, axis: str, window: str, kernel: int, dilation: int, padded: int) -> AxisSize:
    """The result of a sliding window along one axis, or the error when not one window fits."""
    if out < 1:
        raise _too_small(
            axis, formula, f"the {effective_kernel(kernel, dilation)}-pixel {window} does not fit in the "
            f"{padded} padded input pixels"
        )
    return AxisSize(out, formula)


def _window_terms(n: int, kernel: int, left: int, right: int, dilation: int) -> str:
    pad = f"2·{left}" if left == right else f"{left} + {right}"
    return f"{n} + {pad} − {dilation}·({kernel}−1) − 1"


def conv_size(
    n: int, kernel: int, stride: int = 1, padding: Pair = (0, 0), dilation: int = 1, axis: str = "size"
) -> AxisSize:
    """nn.Conv2d along one axis: ⌊(n + p_left + p_right − d(k−1) − 1)/s⌋ + 1.

    `padding` is (left, right); they differ only for 'same' with an even effective kernel.
    """
    left, right = padding
    out = (n + left + right - dilation * (kernel - 1) - 1) // stride + 1
    formula = f"⌊({_window_terms(n, kernel, left, right, dilation)})/{stride}⌋ + 1 = {out}"
    return _sliding(out, formula, axis, "kernel window", kernel, dilation, n + left + right)


def pool_size(
    n: int, kernel: int, stride: int, padding: int = 0, dilation: int = 1, ceil_mode: bool = False,
    axis: str = "size",
) -> AxisSize:
    """nn.MaxPool2d / nn.AvgPool2d along one axis, with PyTorch's ceil_mode rule.

    In ceil mode the division rounds up, but a last window that would start in the right padding
    is dropped (input 32, k=1, s=2 gives 16, not 17), as `pooling_output_shape` does.
    """
    terms = _window_terms(n, kernel, padding, padding, dilation)
    if not ceil_mode:
        out = (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1
        formula = f"⌊({terms})/{stride}⌋ + 1 = {out}"
    else:
        raw = (n + 2 * padding - dilation * (kernel - 1) - 1 + stride - 1) // stride + 1
        formula = f"⌈({terms})/{stride}⌉ + 1 = {raw}"
        out = raw - 1 if (raw - 1) * stride >= n + padding else raw
        if out != raw:
            formula += f" − 1 = {out} (the last window would start in the right padding)"
    return _sliding(out, formula, axis, "pooling window", kernel, dilation, n + 2 * padding)


def conv_transpose_size(
    n: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0, dilation: int = 1,
    axis: str = "size",
) -> AxisSize:
    """nn.ConvTranspose2d along one axis: (n−1)s − 2p + d(k−1) + output_padding + 1."""
    out = (n - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1
    formula = f"({n}−1)·{stride} − 2·{padding} + {dilation}·({kernel}−1) + {output_padding} + 1 = {out}"
    if out < 1:
        raise _too_small(axis, formula, f"padding {padding} crops more than the layer produces")
    return AxisSize(out, formula)


def effective_kernel(kernel: int, dilation: int) -> int:
    """The span of a dilated kernel: d(k−1) + 1."""
    return dilation * (kernel - 1) + 1


def same_padding(kernel: int, dilation: int) -> Pair:
    """PyTorch's padding='same': total d(k−1), left total//2, the odd pixel on the right/bottom."""
    total = dilation * (kernel - 1)
    return (total // 2, total - total // 2)


def uncovered_pixels(
    n: int, out: int, kernel: int, stride: int, padding: Pair, dilation: int
) -> tuple[int, int]:
    """Pixels at the end of an axis that no window reaches: (all of them, those that are input).

    The windows cover padded positions [0, (out−1)s + d(k−1) + 1); the input occupies
    [p_left, p_left + n). Whatever lies beyond the last window is silently ignored by the layer.
    """
    left, right = padding
    covered = (out - 1) * stride + effective_kernel(kernel, dilation)
    return max(0, left + n + right - covered), max(0, left + n - covered)


# ---------------------------------------------------------------- parameter checks (PyTorch's)


def _require_at_least(what: str, value: Pair | int, minimum: int) -> None:
    values = value if isinstance(value, tuple) else (value,)
    if min(values) < minimum:
        shown = pair_text(value) if isinstance(value, tuple) else str(value)
        raise ShapeError(f"{what} must be >= {minimum}, got {shown}")


def check_window(kind: str, kernel: Pair, stride: Pair, dilation: Pair) -> None:
    """Kernel, stride and dilation of a sliding window must be positive, as torch requires."""
    _require_at_least(f"{kind} kernel size", kernel, 1)
    _require_at_least(f"{kind} stride", stride, 1)
    _require_at_least(f"{kind} dilation", dilation, 1)


def check_pool_padding(kernel: Pair, padding: Pair) -> None:
    """Pooling padding may be at most half the kernel (PyTorch checks k//2, not the dilated span)."""
    _require_at_least("pool padding", padding, 0)
    for k, p in zip(kernel, padding, strict=True):
        if p > k // 2:
            raise ShapeError(
                f"pool padding {p} is more than half the kernel size {k} (at most {k // 2}); "
                "PyTorch requires padding <= kernel_size // 2"
            )


def _check_groups(kind: str, in_channels: int, out_channels: int, groups: int) -> None:
    _require_at_least(f"{kind} groups", groups, 1)
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


# ---------------------------------------------------------------- one layer


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


def _per_axis(fn: Callable, *columns) -> tuple:
    """fn applied to the (height, width) entries of each column: one result per axis."""
    return tuple(fn(*args) for args in zip(*columns, strict=True))


def _axis_formulas(sizes: tuple[AxisSize, ...]) -> tuple[str, ...]:
    if sizes[0].formula == sizes[1].formula:
        return (f"H, W: {sizes[0].formula}",)
    return (f"H: {sizes[0].formula}", f"W: {sizes[1].formula}")


def _conv_padding(layer: Conv) -> tuple[Pair, ...]:
    """(left, right) padding per axis, resolving 'same' and 'valid' as PyTorch does."""
    if layer.padding == "valid":
        return ((0, 0), (0, 0))
    if layer.padding == "same":
        if layer.stride != (1, 1):
            raise ShapeError(
                f"padding 'same' needs stride 1 (PyTorch does not support it for strided convolutions), "
                f"got stride {pair_text(layer.stride)}; give the padding as a number instead"
            )
        return _per_axis(same_padding, layer.kernel_size, layer.dilation)
    if isinstance(layer.padding, str):
        raise ShapeError(f"conv padding must be a number, a pair, 'same' or 'valid', got {layer.padding!r}")
    _require_at_least("conv padding", layer.padding, 0)
    return tuple((p, p) for p in layer.padding)


def _conv(layer: Conv, shape: Shape) -> Step:
    _feature_map(shape, "conv")
    check_window("conv", layer.kernel_size, layer.stride, layer.dilation)
    _check_groups("conv", layer.in_channels, layer.out_channels, layer.groups)
    pads = _conv_padding(layer)
    _check_in_channels("conv", layer.in_channels, shape)
    sizes = _per_axis(conv_size, shape[1:], layer.kernel_size, layer.stride, pads, layer.dilation, AXES)
    out = (layer.out_channels, sizes[0].size, sizes[1].size)
    weights_per_output = layer.in_channels // layer.groups * prod(layer.kernel_size)
    return Step(
        out_shape=out,
        params=layer.out_channels * weights_per_output + (layer.out_channels if layer.bias else 0),
        macs=prod(out) * weights_per_output,
        positions=Window(
            kernel=_per_axis(effective_kernel, layer.kernel_size, layer.dilation),
            stride=layer.stride,
            left_padding=(pads[0][0], pads[1][0]),
        ),
        formulas=_axis_formulas(sizes),
    )


def _conv_transpose(layer: ConvTranspose, shape: Shape) -> Step:
    _feature_map(shape, "transposed conv")
    check_window("transposed conv", layer.kernel_size, layer.stride, layer.dilation)
    _check_groups("transposed conv", layer.in_channels, layer.out_channels, layer.groups)
    _require_at_least("transposed conv padding", layer.padding, 0)
    _require_at_least("transposed conv output_padding", layer.output_padding, 0)
    for axis, op, s, d in zip(AXES, layer.output_padding, layer.stride, layer.dilation, strict=True):
        if op >= s and op >= d:
            raise ShapeError(
                f"transposed conv output_padding {op} ({axis}) must be smaller than the stride {s} "
                f"or the dilation {d}"
            )
    _check_in_channels("transposed conv", layer.in_channels, shape)
    sizes = _per_axis(
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
    sizes = _per_axis(
        pool_size, shape[1:], layer.kernel_size, layer.stride, layer.padding, layer.dilation,
        (layer.ceil_mode,) * 2, AXES,
    )
    return Step(
        out_shape=(shape[0], sizes[0].size, sizes[1].size),
        positions=Window(
            kernel=_per_axis(effective_kernel, layer.kernel_size, layer.dilation),
            stride=layer.stride,
            left_padding=layer.padding,
        ),
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
    return Step(out_shape=shape, params=2 * layer.channels if layer.affine else 0)


def _same_shape(layer: Activation | Dropout, shape: Shape) -> Step:
    return Step(out_shape=shape)


RULES: dict[type, Callable[[Layer, Shape], Step]] = {
    Conv: _conv,
    ConvTranspose: _conv_transpose,
    Pool: _pool,
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


# ---------------------------------------------------------------- a whole plan


@dataclass(frozen=True)
class ReceptiveField:
    """The part of the input one unit of a layer sees, per axis (height, width), in input pixels."""

    size: Pair  # r: pixels spanned (padding included); holes of dilation/stride are inside the span
    jump: Pair  # j: input pixels between neighbouring units; (0, 0) when whole_input
    first: Pair  # input index where unit 0's field starts; negative: it starts in the padding
    whole_input: bool = False  # after flatten / linear / global pooling: every unit sees everything

    @property
    def center(self) -> tuple[float, float]:
        """Input coordinate of the centre of unit 0's field (pixel i has its centre at i)."""
        return (self.first[0] + (self.size[0] - 1) / 2, self.first[1] + (self.size[1] - 1) / 2)

    def fraction(self, image: Pair) -> float:
        """Share of the image area one unit's field can cover (the field clipped to the image size)."""
        return min(self.size[0], image[0]) * min(self.size[1], image[1]) / (image[0] * image[1])


def _next_field(field: ReceptiveField | None, positions: Window | str, image: Pair | None):
    if image is None:
        return None
    if positions == WHOLE:
        return ReceptiveField(size=image, jump=(0, 0), first=(0, 0), whole_input=True)
    if positions == KEEP:
        return field
    if positions == UNKNOWN or field is None or field.whole_input:
        return None
    return ReceptiveField(
        size=_per_axis(lambda r, k, j: r + (k - 1) * j, field.size, positions.kernel, field.jump),
        jump=_per_axis(operator.mul, field.jump, positions.stride),
        first=_per_axis(lambda f, p, j: f - p * j, field.first, positions.left_padding, field.jump),
    )


@dataclass(frozen=True)
class Row:
    """One layer of an analysed plan (all counts per image)."""

    name: str
    layer: Layer
    in_shape: Shape
    out_shape: Shape
    params: int
    macs: int
    field: ReceptiveField | None  # None: no spatial input, or after a transposed convolution
    formulas: tuple[str, ...]  # the arithmetic of this row, filled in (for --explain)


@dataclass(frozen=True)
class Analysis:
    """A plan walked over one input shape: one Row per layer, and totals per image."""

    input_shape: Shape
    rows: list[Row]

    @property
    def params(self) -> int:
        return sum(row.params for row in self.rows)

    @property
    def macs(self) -> int:
        return sum(row.macs for row in self.rows)

    @property
    def activation_elements(self) -> int:
        """Values the layers output for one image (the input itself not counted)."""
        return sum(prod(row.out_shape) for row in self.rows)

    @property
    def activation_bytes(self) -> int:
        """Memory of those values in float32."""
        return 4 * self.activation_elements

    @property
    def image(self) -> Pair | None:
        """(height, width) of the input, or None for a flat input."""
        return tuple(self.input_shape[1:]) if len(self.input_shape) == 3 else None


def check_input_shape(shape: Shape) -> None:
    """An input is C×H×W or F with every size >= 1."""
    if len(shape) not in (1, 3) or min(shape) < 1:
        raise ShapeError(f"the input shape must be C×H×W or F with sizes >= 1, got {shape_text(shape)}")


def analyze(plan: Plan, input_shape: Shape) -> Analysis:
    """Walk `plan` over one image of `input_shape`; ShapeError 'layer NAME: ...' at the first bad layer."""
    shape = tuple(input_shape)
    check_input_shape(shape)
    image = tuple(shape[1:]) if len(shape) == 3 else None
    field = ReceptiveField(size=(1, 1), jump=(1, 1), first=(0, 0)) if image else None
    rows = []
    for name, layer in plan:
        try:
            result = step(layer, shape)
        except ShapeError as err:
            raise ShapeError(f"layer {name}: {err}") from None
        field = _next_field(field, result.positions, image)
        rows.append(
            Row(name, layer, shape, result.out_shape, result.params, result.macs, field, result.formulas)
        )
        shape = result.out_shape
    return Analysis(tuple(input_shape), rows)


# ---------------------------------------------------------------- one window along one axis (the calculator)

CONV_FORMULA = "out = ⌊(in + 2p − d(k−1) − 1)/s⌋ + 1"
POOL_CEIL_FORMULA = (
    "out = ⌈(in + 2p − d(k−1) − 1)/s⌉ + 1, minus 1 if the last window would start in the right padding"
)
SOLVABLE = ("padding", "kernel", "stride")


@dataclass(frozen=True)
class Window1D:
    """A conv (or, with `pool`, a pooling) window sliding along one axis."""

    kernel: int
    stride: int = 1
    padding: int | str = 0  # a number, or 'same' / 'valid' for a conv
    dilation: int = 1
    pool: bool = False
    ceil_mode: bool = False  # pooling only

    def padding_pair(self) -> Pair:
        """(left, right) padding; ShapeError where PyTorch rejects the padding."""
        if not self.pool:
            padding = self.padding if isinstance(self.padding, str) else _square(self.padding)
            conv = Conv(1, 1, _square(self.kernel), _square(self.stride), padding, _square(self.dilation))
            return _conv_padding(conv)[0]
        if isinstance(self.padding, str):
            raise ShapeError(f"pool padding must be a number, got {self.padding!r}")
        check_pool_padding(_square(self.kernel), _square(self.padding))
        return (self.padding, self.padding)

    def output(self, size: int) -> AxisSize:
        """The output size for an input of `size`, with PyTorch's checks."""
        _require_at_least("input size", size, 1)
        kind = "pool" if self.pool else "conv"
        check_window(kind, _square(self.kernel), _square(self.stride), _square(self.dilation))
        pads = self.padding_pair()
        if self.pool:
            return pool_size(size, self.kernel, self.stride, pads[0], self.dilation, self.ceil_mode)
        return conv_size(size, self.kernel, self.stride, pads, self.dilation)


def _square(value: int) -> Pair:
    return (value, value)


@dataclass(frozen=True)
class Solutions:
    """The values of one window setting that give a wanted output size."""

    values: list[int]  # ascending
    open_ended: bool = False  # True: every value above the last one works too (a single window)


def solve_window(unknown: str, want: int, size: int, window: Window1D) -> Solutions:
    """Every padding, kernel or stride (`unknown`) for which `window` maps `size` pixels to `want`.

    The other settings are taken from `window`. The search is exhaustive over the only range where
    the output can still change: beyond it the output only grows (padding) or stays below 1
    (kernel) or stays at one window (stride).
    """
    if unknown not in SOLVABLE:
        raise ShapeError(f"can solve for {', '.join(SOLVABLE)}, not {unknown!r}")
    _require_at_least("wanted output size", want, 1)
    _require_at_least("input size", size, 1)
    padding = 0 if isinstance(window.padding, str) or unknown == "padding" else window.padding
    last = {
        "padding": (want * window.stride + effective_kernel(window.kernel, window.dilation)) // 2 + 1,
        "kernel": size + 2 * padding,
        "stride": size + 2 * padding,
    }[unknown]
    first = 0 if unknown == "padding" else 1
    values = []
    for value in range(first, last + 1):
        try:
            out = replace(window, **{unknown: value}).output(size).size
        except ShapeError:
            continue
        if out == want:
            values.append(value)
    return Solutions(values, open_ended=unknown == "stride" and want == 1 and bool(values))
