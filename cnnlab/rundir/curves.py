"""Figures of a whole learning curve, for claims and `cnnlab compare --metrics`: how fast a run
trains, not only where it ends.

    epochs_to(val_acc >= 0.9)   the first epoch whose val_acc reaches 0.9 (`<=` for a loss)
    auc(val_acc)                the mean of val_acc over the epochs: the curve's area, normalized

A run that never reaches the threshold within the epochs it was given counts as that number of
epochs + 1: a lower bound on when it would have, so a claim that such a run is slower is
conservative (it looks faster than it is), and every such run of one spec counts the same.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cnnlab.errors import CnnlabError
from cnnlab.rundir.records import MetricsRow

COLUMNS = ("val_acc", "val_loss", "train_acc", "train_loss")  # metrics.csv's curves
_FORM = re.compile(r"^\s*(?P<kind>epochs_to|auc)\s*\(\s*(?P<column>\w+)\s*"
                   r"(?:(?P<op>>=|<=)\s*(?P<value>[^)\s]+)\s*)?\)\s*$")


class CurveError(CnnlabError):
    """A curve metric that is not written as one."""


@dataclass(frozen=True)
class CurveMetric:
    kind: str  # epochs_to | auc
    column: str  # a curve of metrics.csv
    op: str | None = None  # epochs_to: >= or <=
    threshold: float | None = None

    @property
    def name(self) -> str:
        """The canonical spelling: `epochs_to(val_acc>=0.9)`, `auc(val_acc)`."""
        if self.kind == "auc":
            return f"auc({self.column})"
        return f"epochs_to({self.column}{self.op}{self.threshold:g})"

    @property
    def lower_is_better(self) -> bool:
        return self.kind == "epochs_to" or self.column.endswith("_loss")

    def value(self, rows: Sequence[MetricsRow], epochs: int | None) -> float | None:
        """The figure of one run's rows; epochs_to of a run that never reached the threshold is
        `epochs` + 1 (the epochs it was given), None while that is unknown."""
        values = [(row.epoch, getattr(row, self.column)) for row in rows]
        values = [(e, v) for e, v in values if v is not None and math.isfinite(v)]
        if self.kind == "auc":
            return sum(v for _, v in values) / len(values) if values else None
        reached = (lambda v: v >= self.threshold) if self.op == ">=" else (lambda v: v <= self.threshold)
        first = next((e for e, v in values if reached(v)), None)
        if first is not None:
            return float(first)
        return float(epochs + 1) if epochs is not None else None


def parse_curve_metric(text: str) -> CurveMetric | None:
    """The curve metric `text` names; None when it is not written like one (a plain metric name)."""
    if "(" not in text:
        return None
    match = _FORM.match(text)
    if match is None or match["column"] not in COLUMNS:
        raise CurveError(f"{text.strip()!r}: write a curve metric as epochs_to(val_acc >= 0.9) or auc(val_acc), "
                         f"over one of: {', '.join(COLUMNS)}")
    if match["kind"] == "auc":
        if match["op"]:
            raise CurveError(f"{text.strip()!r}: auc takes a curve only, e.g. auc(val_acc)")
        return CurveMetric("auc", match["column"])
    if not match["op"]:
        raise CurveError(f"{text.strip()!r}: epochs_to needs a threshold, e.g. epochs_to({match['column']} >= 0.9)")
    try:
        threshold = float(match["value"])
    except ValueError:
        raise CurveError(f"{text.strip()!r}: the threshold {match['value']!r} is not a number") from None
    if not math.isfinite(threshold):
        raise CurveError(f"{text.strip()!r}: the threshold must be a finite number")
    return CurveMetric("epochs_to", match["column"], match["op"], threshold)
