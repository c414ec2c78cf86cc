"""One window sliding along one axis (the single-layer calculator of `cnnlab shape --size`): its
output size with PyTorch's checks, and every padding, kernel or stride that gives a wanted size."""

from __future__ import annotations

from dataclasses import dataclass, replace

from cnnlab.shape.axis import (
    AxisSize,
    check_pool_padding,
    check_window,
    conv_size,
    effective_kernel,
    pool_size,
    require_at_least,
)
from cnnlab.shape.layers import Conv, Pair, ShapeError
from cnnlab.shape.rules import conv_padding

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
            return conv_padding(conv)[0]
        if isinstance(self.padding, str):
            raise ShapeError(f"pool padding must be a number, got {self.padding!r}")
        check_pool_padding(_square(self.kernel), _square(self.padding))
        return (self.padding, self.padding)

    def output(self, size: int) -> AxisSize:
        """The output size for an input of `size`, with PyTorch's checks."""
        require_at_least("input size", size, 1)
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
    require_at_least("wanted output size", want, 1)
    require_at_least("input size", size, 1)
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
