"""One spatial axis through one sliding window: PyTorch's output-size formulas, filled in, and
PyTorch's checks of window parameters (conv: ConvUtils.h; pooling: Pool.h `pooling_output_shape` and
`pool2d_shape_check`; transposed conv: `slow_conv_transpose2d_shape_check`)."""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.shape.layers import Pair, ShapeError, pair_text


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




def require_at_least(what: str, value: Pair | int, minimum: int) -> None:
    values = value if isinstance(value, tuple) else (value,)
    if min(values) < minimum:
        shown = pair_text(value) if isinstance(value, tuple) else str(value)
        raise ShapeError(f"{what} must be >= {minimum}, got {shown}")


def check_window(kind: str, kernel: Pair, stride: Pair, dilation: Pair) -> None:
    """Kernel, stride and dilation of a sliding window must be positive, as torch requires."""
    require_at_least(f"{kind} kernel size", kernel, 1)
    require_at_least(f"{kind} stride", stride, 1)
    require_at_least(f"{kind} dilation", dilation, 1)


def check_pool_padding(kernel: Pair, padding: Pair) -> None:
    """Pooling padding may be at most half the kernel (PyTorch checks k//2, not the dilated span)."""
    require_at_least("pool padding", padding, 0)
    for k, p in zip(kernel, padding, strict=True):
        if p > k // 2:
            raise ShapeError(
                f"pool padding {p} is more than half the kernel size {k} (at most {k // 2}); "
                "PyTorch requires padding <= kernel_size // 2"
            )
