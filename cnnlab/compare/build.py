"""The whole comparison: filter, group, sort and cut runs into the rows and columns every renderer
and the plotter share. Pure data, no rendering."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from cnnlab.compare.load import Run
from cnnlab.compare.metrics import METRICS, CompareError, metric, parse_columns
from cnnlab.compare.query import no_match_message, parse_where, resolve_key, run_value, sort_rows
from cnnlab.compare.rows import Row, configurations, differing_keys, group_row, run_rows
from cnnlab.util.text import plural


@dataclass
class Comparison:
    title: str
    rows: list[Row]
    keys: list[str]  # spec-key columns
    columns: list[str]  # metric names and EXTRA_COLUMNS, in display order
    columns_chosen: bool  # --metrics given: show its columns even when empty
    aggregated: bool
    sort_by: str
    ascending: bool
    preferred: tuple[str, ...] = ()  # swept keys: first among the spec-key columns
    runs: list[Run] = field(default_factory=list)  # every run behind the shown rows

    def visible_columns(self) -> list[str]:
        """The columns a human-readable format shows: none that is empty in every row."""
        if self.columns_chosen:
            return self.columns
        return [c for c in self.columns if self._has_values(c)]

    def _has_values(self, column: str) -> bool:
        if metric(column) is not None:
            return any(row.stats[column].n for row in self.rows)
        return column != "curve" or any(row.val_acc.epochs for row in self.rows)


def build_comparison(
    runs: Sequence[Run],
    *,
    where: Sequence[str] = (),
    sort: str | None = None,
    ascending: bool = False,
    top: int | None = None,
    columns: tuple[list[str], bool] | None = None,
    aggregate: bool | None = None,
    all_params: bool = False,
) -> Comparison:
    """Filter, group (by default when some configuration has several runs), sort and cut `runs`.

    Filters on spec keys and `status` pick runs before grouping; filters on metrics pick rows
    (for groups, by the mean over seeds).
    """
    config_keys: dict[str, None] = {}
    for run in runs:
        config_keys.update(dict.fromkeys(run.config))
    filters = [parse_where(text, config_keys) for text in where]
    sort_key = resolve_key(sort, config_keys, what="--sort key") if sort else None
    kept = [r for r in runs if all(f.test(run_value(r, f.key)) for f in filters if not f.on_metric)]
    groups = configurations(kept)
    aggregated = aggregate if aggregate is not None else any(len(g) > 1 for g in groups)
    curves = [c for c in (columns[0] if columns else ()) if c not in METRICS and metric(c) is not None]
    rows = [group_row(g, curves) for g in groups] if aggregated else run_rows(kept, curves)
    rows = [row for row in rows if all(f.test(row.value(f.key)) for f in filters if f.on_metric)]
    if not rows:
        raise CompareError(no_match_message(runs, filters))
    if sort_key is None:
        sort_key = "test_acc" if any(r.stats["test_acc"].n for r in rows) else "best_val_acc"
    rows = sort_rows(rows, sort_key, ascending)
    matched = len(rows)
    rows = rows[:top] if top else rows
    shown_runs = [run for row in rows for run in row.runs]
    # The experiment's name first (it shows only when runs of several are mixed), then the swept keys.
    preferred = tuple(dict.fromkeys(["name", *(k for run in shown_runs if run.sweep for k in run.sweep.keys)]))
    return Comparison(
        title=_title(shown_runs, rows, aggregated, matched, where),
        rows=rows,
        keys=differing_keys(rows, preferred, every=all_params),
        columns=columns[0] if columns and columns[1] else with_balanced_accuracy(
            columns[0] if columns else parse_columns(None)[0], shown_runs),
        columns_chosen=columns[1] if columns else False,
        aggregated=aggregated,
        sort_by=sort_key,
        ascending=ascending,
        preferred=preferred,
        runs=shown_runs,
    )


IMBALANCE = 1.25
"""A test split whose largest class holds at least this many times 1/classes of its images is
unequal enough for accuracy alone to mislead (cat vs not-cat on CIFAR-10: 90% for always "not cat")."""


def with_balanced_accuracy(columns: list[str], runs: Sequence[Run]) -> list[str]:
    """The default columns, with balanced accuracy beside the test accuracy when some run's test
    classes are unequal."""
    unequal = any(run.summary.chance_acc is not None and run.summary.classes and
                  run.summary.chance_acc * len(run.summary.classes) >= IMBALANCE for run in runs)
    if not unequal or "test_balanced_acc" in columns or "test_acc" not in columns:
        return columns
    at = columns.index("test_acc") + 1
    return [*columns[:at], "test_balanced_acc", *columns[at:]]


def _title(runs: Sequence[Run], rows: Sequence[Row], aggregated: bool, matched: int, where: Sequence[str]) -> str:
    """`activations: sweep over model.activation — 4 configurations × 3 seeds (12 runs)`, plus the
    filters and the cut that chose them."""
    sweeps = {run.sweep for run in runs}
    names = sorted({str(run.config.get("name", "")) for run in runs} - {""})
    parts = []
    if len(sweeps) == 1 and (sweep := next(iter(sweeps))) and sweep.keys:
        parts.append(f"{sweep.name}: sweep over {', '.join(sweep.keys)}")
    elif len(names) == 1:
        parts.append(names[0])
    seeds = {len(row.used) for row in rows}
    if not aggregated:
        parts.append(plural(len(rows), "run"))
    elif len(seeds) == 1 and seeds != {1}:
        parts.append(f"{plural(len(rows), 'configuration')} × {seeds.pop()} seeds ({len(runs)} runs)")
    else:
        parts.append(f"{plural(len(rows), 'configuration')} ({plural(len(runs), 'run')})")
    if len(rows) < matched:
        parts.append(f"top {len(rows)} of {matched}")
    if where:
        parts.append("where " + " and ".join(where))
    return " — ".join(parts)
