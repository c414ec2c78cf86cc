"""The plain-language flags of `cnnlab inspect`: what stands out in one epoch's layers (vanishing or
exploding gradients and activations, dead units, saturation, symmetry), each with its number, and the
thresholds that raise them. Standard library only, so that `inspect --help` can list the thresholds
at no cost."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerStats:
    """One weighted layer at one epoch: each statistic aggregated over the runs, and its range."""

    layer: str
    depth: int
    activation: str
    values: dict[str, float]
    low: dict[str, float]
    high: dict[str, float]


@dataclass(frozen=True)
class Threshold:
    value: float
    meaning: str  # for --help


THRESHOLDS: dict[str, Threshold] = {
    "vanishing gradient": Threshold(0.01, "the first layer's gradient per weight is below this share of the last "
                                          "hidden layer's"),
    "exploding gradient": Threshold(100, "the first layer's gradient per weight is above this multiple of the last "
                                         "hidden layer's"),
    "vanishing activations": Threshold(0.1, "the last hidden layer's activation std is below this share of the "
                                            "first's"),
    "exploding activations": Threshold(10, "the last hidden layer's activation std is above this multiple of the "
                                           "first's"),
    "dead units": Threshold(0.25, "at least this share of a ReLU-family layer's units never fire on the probe"),
    "saturation": Threshold(0.25, "at least this share of a sigmoid/tanh layer's outputs are saturated (slope "
                                  "below 10% of its maximum)"),
    "symmetry": Threshold(1, "a layer of several units has only this many distinct ones, and they are not all "
                             "dead (or its weights are all 0): as after zero or constant init"),
}
"""Each flag and when it is raised; `cnnlab inspect --help` lists them."""


@dataclass(frozen=True)
class Flag:
    kind: str  # a key of THRESHOLDS
    layer: str  # the layer the flag names first
    value: float  # the number that crossed the threshold
    text: str  # the sentence shown


def _number(x: float) -> str:
    return f"{x:.2g}" if x < 0.01 or x >= 100 else f"{x:.3g}"


def flags(layers: Sequence[LayerStats]) -> list[Flag]:
    """What stands out in one epoch's layers, each with its number."""
    hidden = list(layers[:-1]) if len(layers) > 1 else list(layers)  # the last weighted layer is the head
    found: list[Flag] = []
    if len(hidden) >= 2:
        first, last = hidden[0], hidden[-1]
        found += _ratio_flag(first, last, "grad_rms", "gradient", f"{first.layer}'s gradient per weight is {{}} "
                             f"{last.layer}'s")
        found += _ratio_flag(first, last, "act_std", "activations", f"std {{}} from {first.layer} to {last.layer}",
                             grows=True)
    found += _share_flags(hidden, "dead_fraction", "dead units", "{share} of {layer}'s units never fire")
    found += _share_flags(hidden, "saturated_fraction", "saturation",
                          "{share} of {layer}'s {activation} outputs are saturated")
    # Units that all died are identical too; that is symmetry only when the weights themselves are all 0.
    symmetric = [s for s in hidden if s.values.get("units", 1) > 1 and s.values.get("distinct_units") == 1
                 and (s.values.get("dead_fraction", 0) < 1 or s.values.get("weight_norm") == 0)]
    if symmetric:
        s = symmetric[0]
        more = f"; {_more(len(symmetric) - 1)} too" if len(symmetric) > 1 else ""
        found.append(Flag("symmetry", s.layer, 1, f"symmetry: {s.layer}'s {int(s.values['units'])} units are "
                                                  f"identical (as after zero or constant init){more}"))
    return found


def _ratio_flag(first: LayerStats, last: LayerStats, statistic: str, what: str, template: str,
                grows: bool = False) -> list[Flag]:
    """Vanishing or exploding `what`: last/first (grows) or first/last beyond their thresholds."""
    a, b = first.values.get(statistic), last.values.get(statistic)
    if a is None or b is None or not (a > 0 and b > 0):
        return []
    ratio = b / a if grows else a / b
    if ratio < THRESHOLDS[f"vanishing {what}"].value:
        words = f"shrinks to {_number(ratio)}×" if grows else f"{_number(ratio)} of"
        return [Flag(f"vanishing {what}", first.layer, ratio, f"vanishing {what}: " + template.format(words))]
    if ratio > THRESHOLDS[f"exploding {what}"].value:
        words = f"grows {_number(ratio)}×" if grows else f"{_number(ratio)}×"
        return [Flag(f"exploding {what}", first.layer, ratio, f"exploding {what}: " + template.format(words))]
    return []


def _share_flags(layers: Sequence[LayerStats], statistic: str, kind: str, template: str) -> list[Flag]:
    """The layer with the largest share above the threshold, and how many more are above it."""
    above = sorted((s for s in layers if s.values.get(statistic, 0) >= THRESHOLDS[kind].value),
                   key=lambda s: -s.values[statistic])
    if not above:
        return []
    worst = above[0]
    share = worst.values[statistic]
    text = template.format(share=f"{share:.0%}", layer=worst.layer, activation=worst.activation)
    more = f" ({_more(len(above) - 1)} at {THRESHOLDS[kind].value:.0%} or more)" if len(above) > 1 else ""
    return [Flag(kind, worst.layer, share, f"{kind}: {text}{more}")]


def _more(n: int) -> str:
    return f"{n} more layer{'s' if n > 1 else ''}"


def thresholds_help() -> str:
    """One line per flag for --help."""
    return "\n".join(f"{kind}: {t.meaning} ({_threshold_text(kind, t.value)})" for kind, t in THRESHOLDS.items())


def _threshold_text(kind: str, value: float) -> str:
    if kind in ("dead units", "saturation"):
        return f"{value:.0%}"
    return f"{value:g}" if kind == "symmetry" else (f"{value:g}×" if value >= 1 else f"{value:g}")
