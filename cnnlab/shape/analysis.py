"""A whole plan walked over one input: every layer's output, params, MACs and receptive field.

Receptive field, per axis, in input pixels (padding included): size r, jump j (input pixels
between neighbouring units: the product of strides) and `first`, the input index where the first
unit's field starts (negative: it starts in the padding). After flatten, linear or global pooling
every unit sees the whole input; after a transposed convolution the field depends on the unit's
position and is not given (None).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from math import prod

from cnnlab.shape.layers import Layer, Pair, Plan, Shape, ShapeError, shape_text
from cnnlab.shape.rules import KEEP, UNKNOWN, WHOLE, Window, per_axis, step


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
        size=per_axis(lambda r, k, j: r + (k - 1) * j, field.size, positions.kernel, field.jump),
        jump=per_axis(operator.mul, field.jump, positions.stride),
        first=per_axis(lambda f, p, j: f - p * j, field.first, positions.left_padding, field.jump),
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
    def receptive_field(self) -> int | None:
        """What one unit of the last feature map sees, in input pixels (the larger axis): the field of the
        last layer before flatten or global pooling; None for a flat input or a transposed convolution."""
        fields = [row.field for row in self.rows if row.field is not None and not row.field.whole_input]
        return max(fields[-1].size) if fields and len(self.rows[-1].out_shape) else None

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
