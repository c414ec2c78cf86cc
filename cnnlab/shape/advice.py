"""Warnings that teach, from a model's layers alone: choices that train, but not as a person expects.

Each is one plain sentence with the numbers, said once by `cnnlab shape`, `cnnlab train --dry-run` and
before `cnnlab train` starts (for a sweep: once for all its runs):
  - a kernel larger than its input under `padding: same`: the output keeps its size only because
    most of every window is zero padding;
  - `padding: same` with an even kernel (odd dilation): the padding cannot be split evenly, so
    PyTorch pads one more pixel at the bottom and right and copies the padded input at every step
    (this replaces PyTorch's own "even kernel lengths" UserWarning, which the trainer silences).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from cnnlab.shape.analysis import Analysis, Row
from cnnlab.shape.axis import effective_kernel, same_padding
from cnnlab.shape.layers import Conv, pair_text

EVEN_KERNEL_WARNING = r"Using padding='same' with even kernel lengths"  # PyTorch's text, silenced by the trainer


def _kernel_larger_than_input(row: Row) -> str | None:
    layer = row.layer
    if not isinstance(layer, Conv) or layer.padding != "same":
        return None
    spans = tuple(effective_kernel(k, d) for k, d in zip(layer.kernel_size, layer.dilation, strict=True))
    size = row.in_shape[1:]
    if all(span <= n for span, n in zip(spans, size, strict=True)):
        return None
    padded = [sum(same_padding(k, d)) for k, d in zip(layer.kernel_size, layer.dilation, strict=True)]
    kernel = "×".join(map(str, spans))
    return (f"{row.name}: its {kernel} kernel is larger than its {'×'.join(map(str, size))} input; with "
            f"padding: same the output keeps that size only by adding {pair_text(tuple(padded))} pixels of zeros, "
            f"so most of every window sees padding, not the image")


def _uneven_same_padding(row: Row) -> str | None:
    layer = row.layer
    if not isinstance(layer, Conv) or layer.padding != "same":
        return None
    pads = [same_padding(k, d) for k, d in zip(layer.kernel_size, layer.dilation, strict=True)]
    if all(left == right for left, right in pads):
        return None
    kernel = "×".join(map(str, layer.kernel_size))
    return (f"{row.name}: padding: same with the even kernel {kernel} cannot pad both "
            f"sides alike: PyTorch adds one more pixel at the bottom and right, and copies the padded input at "
            f"every step (slower); an odd kernel size pads evenly")


RULES: tuple[Callable[[Row], str | None], ...] = (_kernel_larger_than_input, _uneven_same_padding)


def layer_warnings(analysis: Analysis) -> list[str]:
    """The teaching warnings of one analysed model, in layer order."""
    return [text for row in analysis.rows for rule in RULES if (text := rule(row))]


def distinct(warnings: Iterable[str]) -> list[str]:
    """Each warning once, in first-seen order (a sweep's runs often share a layer)."""
    return list(dict.fromkeys(warnings))
