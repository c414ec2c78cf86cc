"""--where filters and --sort: on spec keys, `status` and metrics, with one-line errors that name the
closest valid key."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from cnnlab.compare.load import MISSING, Run, hashable
from cnnlab.compare.metrics import ALIASES, METRICS, CompareError
from cnnlab.compare.rows import Row
from cnnlab.registry import did_you_mean
from cnnlab.util.yamlio import load_yaml

_WHERE = re.compile(r"^\s*(?P<key>[^=!<>\s][^=!<>]*?)\s*(?P<op>!=|>=|<=|==|=|>|<)\s*(?P<value>.*?)\s*$")
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def parse_value(text: str) -> Any:
    """A filter value typed as YAML types it (`relu`, `0.05`, `true`, `[3, 3]`); `1e-3` is a number too."""
    try:
        value = load_yaml(text)
    except yaml.YAMLError:
        value = text
    if isinstance(value, str) and _NUMBER.fullmatch(value):
        value = float(value)
    return hashable(value)


def _equal(a: Any, b: Any) -> bool:
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def resolve_key(key: str, config_keys: Iterable[str], what: str, extra: Sequence[str] = ()) -> str:
    """A metric name (aliases allowed), a spec key (`x.name` = `x`) or one of `extra`; else a
    one-line error naming the closest valid key."""
    config_keys = set(config_keys)
    if key in ALIASES:
        return ALIASES[key]
    if key in METRICS or key in extra or key in config_keys:
        return key
    if key.endswith(".name") and key[: -len(".name")] in config_keys:
        return key[: -len(".name")]
    valid = [*METRICS, *ALIASES, *extra, *config_keys]
    raise CompareError(
        f"unknown {what} {key!r}{did_you_mean(key, valid)}; "
        f"use a spec key like model.activation or a metric: {', '.join(METRICS)}"
    )


@dataclass(frozen=True)
class Where:
    """One --where condition on a spec key, `status`, or a metric (accuracy 0.9 or 90 both mean 90%)."""

    text: str
    key: str
    op: str
    value: Any

    @property
    def on_metric(self) -> bool:
        return self.key in METRICS

    def test(self, value: Any) -> bool:
        if self.op in ("=", "==", "!="):
            return _equal(value, self.value) != (self.op == "!=")
        return is_number(value) and not math.isnan(value) and _OPERATORS[self.op](value, self.value)


def parse_where(text: str, config_keys: Iterable[str]) -> Where:
    match = _WHERE.match(text)
    if not match:
        raise CompareError(
            f"cannot read --where {text!r}; write KEY=VALUE, KEY!=VALUE or METRIC>NUMBER (also >=, <, <=)"
        )
    key = resolve_key(match["key"], config_keys, extra=("status",), what="--where key")
    op, value = match["op"], parse_value(match["value"])
    if op in (">", ">=", "<", "<=") and not is_number(value):
        raise CompareError(f"--where {text!r}: {op!r} needs a number, got {match['value']!r}")
    metric = METRICS.get(key)
    if metric and metric.kind == "fraction" and is_number(value) and value > 1:
        value = value / 100  # the table shows accuracies in %, so "test_acc>90" means what it says
    return Where(text, key, op, value)


def run_value(run: Run, key: str) -> Any:
    return run.status if key == "status" else run.config.get(key, MISSING)


def no_match_message(runs: Sequence[Run], filters: Sequence[Where]) -> str:
    for f in filters:
        if not f.on_metric and not any(f.test(run_value(r, f.key)) for r in runs):
            seen = sorted({format_plain(run_value(r, f.key)) for r in runs})
            shown = ", ".join(seen[:12]) + (", ..." if len(seen) > 12 else "")
            return f"no run has {f.text} ({f.key} is one of: {shown})"
    return f"no runs match {' and '.join(f.text for f in filters)}"


def format_plain(value: Any) -> str:
    """A spec value as the table shows it: YAML-like scalars, lists as `[3, 3]`, blank when missing."""
    if value is MISSING:
        return ""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, tuple):
        return "[" + ", ".join(format_plain(v) for v in value) + "]"
    return str(value)


def sort_rows(rows: list[Row], key: str, ascending: bool) -> list[Row]:
    """Rows by `key`, descending unless `ascending`; rows without a value go last either way."""

    def missing(v: Any) -> bool:
        return v is MISSING or v is None or (isinstance(v, float) and math.isnan(v))

    def order(row: Row) -> tuple:
        value = row.value(key)
        return (0, value, "") if is_number(value) else (1, 0, format_plain(value))

    present = sorted((r for r in rows if not missing(r.value(key))), key=order, reverse=not ascending)
    return present + [r for r in rows if missing(r.value(key))]
