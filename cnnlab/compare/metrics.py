"""The metric columns after the spec keys. A registry, so names, labels and formats live in one
place and --sort / --where / --metrics all accept the same names."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from cnnlab.errors import CnnlabError
from cnnlab.registry import did_you_mean
from cnnlab.rundir.curves import CurveError, parse_curve_metric


class CompareError(CnnlabError):
    """A compare request that cannot be answered: bad path, filter, metric name, no runs."""


@dataclass(frozen=True)
class Metric:
    label: str  # column header
    kind: str  # how renderers format it: fraction | loss | int | count | seconds | rate
    better: str = ""  # "high" or "low": the end a renderer may highlight as best
    source: str = ""  # RunSummary field when it differs from the metric's name
    default: bool = True  # shown without --metrics


METRICS: dict[str, Metric] = {
    "best_val_acc": Metric("best val acc %", "fraction", "high"),
    "final_val_acc": Metric("final val acc %", "fraction", "high"),
    "test_acc": Metric("test acc %", "fraction", "high"),
    "test_balanced_acc": Metric("test bal. acc %", "fraction", "high", default=False),
    "final_train_loss": Metric("train loss", "loss", "low"),
    "epochs": Metric("epochs", "int", source="epochs_run"),
    "params": Metric("params", "count"),
    "macs": Metric("MACs", "count"),
    "receptive_field": Metric("RF", "int", default=False),
    "train_seconds": Metric("train time", "seconds"),
    "images_per_second": Metric("img/s", "rate"),
    "final_train_acc": Metric("train acc %", "fraction", "high", default=False),
    "best_val_loss": Metric("best val loss", "loss", "low", default=False),
    "test_loss": Metric("test loss", "loss", "low", default=False),
    "best_epoch": Metric("best epoch", "int", default=False),
}
ALIASES = {"val_acc": "best_val_acc", "train_loss": "final_train_loss", "epochs_run": "epochs"}
CURVE_FORMS = "epochs_to(val_acc>=X), auc(val_acc)"  # figures of the whole curve, by name (cnnlab.rundir.curves)


@functools.cache
def metric(name: str) -> Metric | None:
    """The metric a column name means: one of METRICS, or a figure of the curve (epochs_to(...), auc(...))."""
    if name in METRICS:
        return METRICS[name]
    try:
        curve = parse_curve_metric(name)
    except CurveError:
        return None
    if curve is None or curve.name != name:
        return None
    shown = curve.column.replace("_", " ")
    if curve.kind == "auc":
        kind = "fraction" if curve.column.endswith("_acc") else "loss"
        return Metric(f"auc {shown}" + (" %" if kind == "fraction" else ""), kind,
                      "low" if curve.lower_is_better else "high", default=False)
    return Metric(f"epochs to {shown} {curve.op.replace('>=', '≥').replace('<=', '≤')} {curve.threshold:g}", "int",
                  "low", default=False)
EXTRA_COLUMNS = ("status", "curve")  # status (counts for groups) and the val-acc sparkline


def parse_columns(text: str | None) -> tuple[list[str], bool]:
    """The metric/extra columns named by --metrics "a,b,c" (all defaults when None); and whether chosen."""
    if text is None:
        return [name for name, m in METRICS.items() if m.default] + list(EXTRA_COLUMNS), False
    valid = [*METRICS, *EXTRA_COLUMNS]
    columns: list[str] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        name = _curve_name(word) if "(" in word else ALIASES.get(word, word)
        if name not in valid and metric(name) is None:
            raise CompareError(
                f"unknown metric {word!r} in --metrics{did_you_mean(word, [*valid, *ALIASES])}; "
                f"choose from: {', '.join(valid)}, {CURVE_FORMS}"
            )
        if name not in columns:
            columns.append(name)
    if not columns:
        raise CompareError(f"--metrics needs at least one name; choose from: {', '.join(valid)}")
    return columns, True


def _curve_name(word: str) -> str:
    """A curve metric's canonical name (`epochs_to(val_acc >= 0.90)` → `epochs_to(val_acc>=0.9)`)."""
    try:
        curve = parse_curve_metric(word)
    except CurveError as err:
        raise CompareError(f"--metrics: {err}") from None
    return curve.name
