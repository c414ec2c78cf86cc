"""Rows of a comparison: one per configuration (seeds aggregated as mean ± sample std) or one per
run, with their per-epoch bands; and which spec keys differ between them."""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnnlab.compare.load import IDENTITY_KEYS, MISSING, STATUS_ORDER, Run, spec_value
from cnnlab.compare.metrics import METRICS
from cnnlab.rundir.records import FINISHED


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof=1; None for n < 2) and count of one metric."""

    mean: float | None
    std: float | None
    n: int


def summarize(values: Sequence[float]) -> Stat:
    n = len(values)
    if n == 0:
        return Stat(None, None, 0)
    if not all(math.isfinite(v) for v in values):  # statistics refuses inf/nan; the plain mean says it
        return Stat(sum(values) / n, None if n == 1 else math.nan, n)
    return Stat(statistics.fmean(values), statistics.stdev(values) if n > 1 else None, n)


@dataclass(frozen=True)
class Band:
    """A per-epoch curve over several runs: mean, min, max, sample std (0 for one value) and count of
    the finite values at each epoch."""

    epochs: tuple[int, ...] = ()
    mean: tuple[float, ...] = ()
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    count: tuple[int, ...] = ()


def _band(runs: Sequence[Run], curve: str) -> Band:
    if len(runs) == 1:  # a run's own curve (per-run rows: a thousand of them must stay cheap)
        pairs = [(e, v) for e, v in zip(runs[0].curves.epochs, getattr(runs[0].curves, curve), strict=True)
                 if v is not None and math.isfinite(v)]
        values = tuple(v for _, v in pairs)
        return Band(tuple(e for e, _ in pairs), values, values, values, (0.0,) * len(values), (1,) * len(values))
    at: dict[int, list[float]] = {}
    for run in runs:
        for epoch, value in zip(run.curves.epochs, getattr(run.curves, curve), strict=True):
            if value is not None and math.isfinite(value):
                at.setdefault(epoch, []).append(value)
    epochs = sorted(at)
    return Band(
        tuple(epochs),
        tuple(sum(at[e]) / len(at[e]) for e in epochs),
        tuple(min(at[e]) for e in epochs),
        tuple(max(at[e]) for e in epochs),
        tuple(statistics.stdev(at[e]) if len(at[e]) > 1 else 0.0 for e in epochs),
        tuple(len(at[e]) for e in epochs),
    )


def numbers_from(runs: Sequence[Run]) -> list[Run]:
    """The runs whose numbers a row shows: finished runs when there are any (a running or failed
    seed would drag the mean), else all; a seed run more than once counts once, by its latest run."""
    finished = [r for r in runs if r.status in FINISHED] or list(runs)
    latest: dict[Any, Run] = {}
    for run in sorted(finished, key=lambda r: (r.started, r.run_id)):
        latest[run.seed] = run
    return [r for r in finished if latest[r.seed] is r]


@dataclass
class Row:
    runs: list[Run]  # every run of the row, whatever its status
    used: list[Run]  # the runs behind its numbers (see numbers_from)
    config: dict[str, Any]  # the row's spec keys (a group's shared keys; a run's whole spec)
    stats: dict[str, Stat]
    val_acc: Band
    train_loss: Band
    run_id: str | None = None  # set on per-run rows

    @property
    def status_counts(self) -> dict[str, int]:
        counts = Counter(run.status for run in self.runs)
        rank = {s: i for i, s in enumerate(STATUS_ORDER)}
        return dict(sorted(counts.items(), key=lambda kv: rank.get(kv[0], len(rank))))

    def value(self, key: str) -> Any:
        """A metric's mean or a spec key's value (null below a null key, MISSING when the row has none)."""
        return self.stats[key].mean if key in self.stats else spec_value(self.config, key)


def make_row(runs: list[Run], config: dict[str, Any], run_id: str | None = None, extra: Sequence[str] = ()) -> Row:
    """A row of `runs`, with the statistics of every metric and of the curve metrics `extra`."""
    used = numbers_from(runs)
    stats = {
        name: summarize([v for r in used if (v := r.value(name)) is not None]) for name in (*METRICS, *extra)
    }
    return Row(runs, used, config, stats, _band(used, "val_acc"), _band(used, "train_loss"), run_id)


def configuration_key(run: Run) -> frozenset:
    """What a run's configuration is: its spec but the seed."""
    identity = {(k, run.config[k]) for k in IDENTITY_KEYS if k in run.config}
    return frozenset(run.config.items()) - identity


def configurations(runs: Sequence[Run]) -> list[list[Run]]:
    """The runs grouped by configuration: specs that agree on every key but name and seed."""
    groups: dict[frozenset, list[Run]] = {}
    for run in runs:
        groups.setdefault(configuration_key(run), []).append(run)
    return list(groups.values())


def group_rows(runs: Sequence[Run]) -> list[Row]:
    """One row per configuration."""
    return [group_row(members) for members in configurations(runs)]


def group_row(members: list[Run], extra: Sequence[str] = ()) -> Row:
    return make_row(members, {k: v for k, v in members[0].config.items() if k not in IDENTITY_KEYS}, extra=extra)


def run_rows(runs: Sequence[Run], extra: Sequence[str] = ()) -> list[Row]:
    return [make_row([run], run.config, run.run_id, extra) for run in runs]


def differing_keys(rows: Sequence[Row], preferred: Sequence[str] = (), every: bool = False) -> list[str]:
    """The spec keys worth a column: those whose value differs between rows (all with `every`),
    swept keys first. An option of a shown registry choice (`model.activation.negative_slope`
    beside `model.activation`), or an item of a list whose length is shown (`model.conv[2].stride`
    beside `len(model.conv)`), is left out when it exists only where that key's value says so and
    that value alone determines it. A key that is null in some rows and a mapping in the others
    (`model.conv[0].pool`: no pool, or one) is shown by the keys below it, whose cells read null
    where it is null (cnnlab.compare.load.spec_value): those that differ beyond what it says, else
    the first (`model.conv[0].pool.type`: max, or null)."""
    order: dict[str, None] = {}
    for row in rows:
        order.update(dict.fromkeys(row.config))
    keys = list(order)
    if not every:
        keys = [k for k in keys if len({row.config.get(k, MISSING) for row in rows}) > 1]
        keys = _shown_below_null_parents([k for k in keys if not _determined(k, keys, rows)], keys, rows)
    rank = {k: i for i, k in enumerate(preferred)}
    return sorted(keys, key=lambda k: rank.get(k, len(rank)))


def _shown_below_null_parents(shown: list[str], differing: list[str], rows: Sequence[Row]) -> list[str]:
    """`shown` with every key that is null or a mapping (see differing_keys) replaced by keys below it."""
    keep = set(shown)
    for key in shown:
        below = [k for k in differing if k.startswith((key + ".", key + "["))]
        values = [row.config.get(key, MISSING) for row in rows]
        if below and None in values and all(v is None or v is MISSING for v in values):
            keep.discard(key)
            if not keep.intersection(below):
                keep.add(below[0])
    return [k for k in differing if k in keep]


def _determined(key: str, shown: Sequence[str], rows: Sequence[Row]) -> bool:
    """Whether `key` exists only in some rows, as a value of a shown key above it dictates: the
    options of a choice, the items of a list beyond its shortest length."""
    if all(key in row.config for row in rows):
        return False
    for parent in shown:
        below = parent[4:-1] + "[" if parent.startswith("len(") else parent + "."
        if key.startswith(below):
            seen: dict[Any, Any] = {}
            if all(
                seen.setdefault(row.config.get(parent, MISSING), value) == value
                for row in rows
                for value in [row.config.get(key, MISSING)]
            ):
                return True
    return False
