"""Claims: what an experiment sets out to show, in a small grammar that cnnlab checks against the runs.

    claim  := group ">" group  "on" metric ["at epoch" N]      A's mean is higher than B's
            | group "<" group  "on" metric ["at epoch" N]      A's mean is lower than B's
            | group "~=" group "on" metric ["at epoch" N]      A and B are equally accurate (within a margin)
            | group "~" "chance" "on" metric ["at epoch" N]     A is no better than guessing
            | group (">" | "<") group "on" "learns"            A's seeds learn more often than B's
    group  := term ("&" term)*                                  runs matching every term
    term   := VALUE | KEY=VALUE | KEY#N                         a value of a swept key

A VALUE is a swept value as written in the sweep (`relu`, `0.1`) or the name of a swept registry
choice (`normal` for `{name: normal, std: 0.01}`); it must belong to exactly one swept key, else
write KEY=VALUE. KEY#N names the N-th value of a sweep (counting from 1), for values such as lists
of conv blocks that have no short written form. A metric is a figure of summary.json (test_acc,
best_val_acc, final_train_loss ...); with "at epoch N", a column of metrics.csv (val_acc, val_loss,
train_acc, train_loss); a figure of the whole curve (cnnlab.rundir.curves: `epochs_to(val_acc >=
0.9)`, `auc(val_acc)`); or `learns`, whether a seed's test accuracy is more than 5 points above
chance (the share of seeds that learn, compared by Fisher's exact test).

Claims are parsed and resolved against the sweep when the spec is validated, so a claim naming a
value that is not swept is a spec error with its key path (`claims[1]: ...`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal, get_args, get_origin

from cnnlab.registry import did_you_mean
from cnnlab.rundir.curves import CurveError, CurveMetric, parse_curve_metric
from cnnlab.rundir.records import MetricsRow, RunSummary


def _numeric(annotation: Any) -> bool:
    """float, int or an Annotated/Optional form of them (not bool)."""
    if annotation in (int, float):
        return True
    if get_origin(annotation) in (list, dict, tuple):
        return False
    return any(_numeric(arg) for arg in get_args(annotation) if arg is not type(None))


# Figures of a whole run, and per-epoch figures (metrics.csv) that need "at epoch N".
RUN_METRICS = tuple(name for name, field in RunSummary.model_fields.items() if _numeric(field.annotation))
EPOCH_METRICS = tuple(name for name in MetricsRow.model_fields if name.startswith(("val_", "train_")))
LEARNS = "learns"  # whether a seed learned: test accuracy more than 5 points above chance

_CLAIM = re.compile(
    r"^\s*(?P<left>.+?)\s*(?P<op>~=|>|<|~)\s*(?P<right>.+?)\s+on\s+(?P<metric>[A-Za-z_]+(?:\s*\([^)]*\))?)"
    r"(?:\s+at\s+epoch\s+(?P<epoch>\d+))?\s*$"
)
_TERM = re.compile(r"^(?P<key>[A-Za-z_][\w.\[\]]*)\s*(?:=\s*(?P<value>.+)|#\s*(?P<index>\d+))$")


class ClaimError(ValueError):
    """A claim that does not follow the grammar or names something the sweep does not have."""


@dataclass(frozen=True)
class Term:
    """One swept key at one of its values (by position in the sweep's list)."""

    key: str
    index: int  # 0-based position in sweep[key]
    label: str  # as the claim wrote it

    def matches(self, swept: dict[str, Any], sweep: dict[str, list[Any]]) -> bool:
        """Whether a run whose sweep values are `swept` has this value."""
        return self.key in swept and swept[self.key] == sweep[self.key][self.index]


@dataclass(frozen=True)
class Group:
    terms: tuple[Term, ...]

    @property
    def label(self) -> str:
        return " & ".join(term.label for term in self.terms)

    def matches(self, swept: dict[str, Any], sweep: dict[str, list[Any]]) -> bool:
        return all(term.matches(swept, sweep) for term in self.terms)


@dataclass(frozen=True)
class Claim:
    text: str
    left: Group
    op: Literal[">", "<", "~=", "~"]
    right: Group | None  # None for "~ chance"
    metric: str  # a run metric, a metrics.csv column (with `epoch`), a curve metric's name, or `learns`
    epoch: int | None = None
    curve: CurveMetric | None = None  # when the metric is a figure of the whole curve

    @property
    def chance(self) -> bool:
        return self.op == "~"

    @property
    def learns(self) -> bool:
        return self.metric == LEARNS

    @property
    def accuracy(self) -> bool:
        """Whether the metric is an accuracy (a share of images, compared in percentage points)."""
        return self.metric.endswith("_acc") or (self.curve is not None and self.curve.kind == "auc"
                                                and self.curve.column.endswith("_acc"))


def _same(value: Any, written: str) -> bool:
    """Whether a swept value is what a claim wrote: equal as text, or a registry choice's name."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return value["name"] == written
    if isinstance(value, bool):
        return written in (("true", "True") if value else ("false", "False"))
    if isinstance(value, (int, float)):
        try:
            return float(written) == value
        except ValueError:
            return False
    return isinstance(value, str) and value == written


def _term(text: str, sweep: dict[str, list[Any]]) -> Term:
    text = text.strip()
    match = _TERM.match(text)
    if match and match["key"] in sweep:
        key, values = match["key"], sweep[match["key"]]
        if match["index"] is not None:
            n = int(match["index"])
            if not 1 <= n <= len(values):
                raise ClaimError(f"{key}#{n}: the sweep of {key} has values #1 to #{len(values)}")
            return Term(key, n - 1, text)
        found = [i for i, v in enumerate(values) if _same(v, match["value"].strip())]
        if len(found) != 1:
            raise ClaimError(f"{text!r}: {key} is swept over {_shown(values)}; name one of them")
        return Term(key, found[0], text)
    if match:
        raise ClaimError(f"{match['key']!r} is not swept{did_you_mean(match['key'], sweep)}; "
                         f"swept keys: {', '.join(sweep) or 'none'}")
    found = [(k, i) for k, values in sweep.items() for i, v in enumerate(values) if _same(v, text)]
    if len(found) == 1:
        return Term(*found[0], text)
    if found:
        keys = ", ".join(sorted({k for k, _ in found}))
        raise ClaimError(f"{text!r} is a value of several swept keys ({keys}); write KEY={text}")
    written = [str(v["name"]) if isinstance(v, dict) and "name" in v else str(v)
               for values in sweep.values() for v in values if not isinstance(v, (list, dict)) or "name" in v]
    raise ClaimError(f"no swept value {text!r}{did_you_mean(text, written)}; the sweep has: "
                     f"{'; '.join(f'{k}: {_shown(v)}' for k, v in sweep.items()) or 'nothing'}")


def _shown(values: list[Any]) -> str:
    return ", ".join(str(v["name"]) if isinstance(v, dict) and "name" in v else
                     f"#{i + 1}" if isinstance(v, (list, dict)) else str(v) for i, v in enumerate(values))


def _group(text: str, sweep: dict[str, list[Any]]) -> Group:
    terms = tuple(_term(part, sweep) for part in text.split("&"))
    if len({t.key for t in terms}) < len(terms):
        raise ClaimError(f"{text!r} names one swept key twice; a run has one value of each")
    return Group(terms)


def parse_claim(text: str, sweep: dict[str, list[Any]]) -> Claim:
    """One claim, resolved against the sweep; ClaimError (one line) when it cannot be."""
    match = _CLAIM.match(text)
    if not match:
        raise ClaimError(f"{text!r} is not a claim; write e.g. 'relu > sigmoid on test_acc', "
                         "'kaiming_normal > xavier_normal on val_acc at epoch 2', 'max ~= avg on test_acc' or "
                         "'zeros ~ chance on test_acc'")
    metric, epoch = match["metric"], int(match["epoch"]) if match["epoch"] else None
    try:
        curve = parse_curve_metric(metric)
    except CurveError as err:
        raise ClaimError(str(err)) from None
    if curve is not None:
        if epoch is not None:
            raise ClaimError(f"{curve.name} is a figure of the whole curve: leave out 'at epoch {epoch}'")
        metric = curve.name
    elif metric == LEARNS:
        if epoch is not None or match["op"] not in (">", "<"):
            raise ClaimError("'learns' compares how often seeds learn: write 'A > B on learns' or 'A < B on learns'")
    else:
        _check_metric(metric, epoch)
    left = _group(match["left"], sweep)
    if match["op"] == "~":
        if match["right"].strip() != "chance":
            raise ClaimError(f"'~' compares with chance only: write '{match['left']} ~ chance on {metric}'")
        if not metric.endswith("_acc"):
            raise ClaimError(f"'~ chance' needs an accuracy, not {metric}")
        return Claim(text, left, "~", None, metric, epoch)
    claim = Claim(text, left, match["op"], _group(match["right"], sweep), metric, epoch, curve)
    if claim.op == "~=" and not claim.accuracy:
        raise ClaimError(f"'~=' (equally accurate) needs an accuracy, not {metric}")
    if left == claim.right:
        raise ClaimError(f"{text!r} compares a group with itself")
    return claim


def _check_metric(metric: str, epoch: int | None) -> None:
    """A run metric, or with `epoch` a per-epoch one."""
    valid = EPOCH_METRICS if epoch is not None else RUN_METRICS
    if epoch is None and metric in EPOCH_METRICS:
        raise ClaimError(f"{metric!r} is a per-epoch figure: add 'at epoch N', or use best_val_acc (the monitored "
                         "epoch's) or final_val_acc")
    if metric not in valid:
        raise ClaimError(f"unknown metric {metric!r}{did_you_mean(metric, [*valid, LEARNS])}; "
                         f"{'per-epoch' if epoch is not None else 'run'} metrics: {', '.join(valid)}; or "
                         f"{LEARNS}, epochs_to(val_acc >= X), auc(val_acc)")
    if epoch is not None and epoch < 1:
        raise ClaimError("epochs count from 1")
