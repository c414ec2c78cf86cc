"""Per-layer diagnostics of runs (their diagnostics.csv) for `cnnlab inspect`: grouped by
configuration and aggregated over seeds as compare groups runs, and the plain-language flags.

Reads files only, through the run records; never imports torch.
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from cnnlab.compare.flags import LayerStats
from cnnlab.compare.load import MISSING, Run, flatten_spec
from cnnlab.compare.metrics import CompareError
from cnnlab.compare.rows import Row, configurations, differing_keys, group_row
from cnnlab.rundir.csv_files import parse_diagnostics
from cnnlab.rundir.records import DiagnosticsRow, MissingRecord, RecordError, read_text

SCALE_STATISTICS = frozenset({"act_std", "weight_norm", "grad_norm", "grad_rms", "update_ratio"})
"""Statistics that compare by factors: aggregated over seeds by their geometric mean (the others by
their arithmetic mean)."""

NO_DIAGNOSTICS = ("it was trained by a cnnlab without diagnostics or with train.diagnostics.every: 0; "
                  "train it again to inspect it")


@dataclass
class Diagnosed:
    """One configuration (its seeds, as compare groups them) with its layers at every recorded epoch."""

    row: Row  # compare's row: the configuration's spec keys and runs
    runs: list[Run]  # those whose diagnostics are aggregated
    epochs: dict[int, list[LayerStats]] = field(default_factory=dict)  # epochs every run recorded

    def at(self, epoch: int) -> list[LayerStats]:
        return self.epochs[epoch]


def read_diagnostics(run: Run) -> list[DiagnosticsRow] | None:
    """A run's diagnostics.csv, or None when it has none; RecordError when it is malformed."""
    path = os.path.join(run.path, "diagnostics.csv")
    try:
        return parse_diagnostics(read_text(path), path)
    except MissingRecord:
        return None


def diagnose(runs: Sequence[Run], warn: Callable[[str], None]) -> tuple[list[Diagnosed], list[str]]:
    """The configurations of `runs` whose runs have diagnostics, and the spec keys that tell them
    apart. Runs without diagnostics are left out with a warning; none at all is an error."""
    tables: dict[str, list[DiagnosticsRow]] = {}
    for run in runs:
        try:
            rows = read_diagnostics(run)
        except RecordError as err:
            warn(f"{err}; left out")
            continue
        if rows is None:
            if len(runs) == 1:
                raise CompareError(f"{run.path}: no diagnostics.csv; {NO_DIAGNOSTICS}")
            warn(f"{run.path}: no diagnostics.csv; left out")
        elif rows:
            tables[str(run.path)] = rows
    diagnosed = []
    for members in configurations(runs):
        row = group_row(members)
        used = [r for r in row.used if str(r.path) in tables]
        if used:
            diagnosed.append(Diagnosed(row, used, aggregate([tables[str(r.path)] for r in used])))
    if not diagnosed:
        raise CompareError(f"none of the {len(runs)} runs has diagnostics.csv; {NO_DIAGNOSTICS}")
    diagnosed.sort(key=lambda d: sweep_position(d.runs[0]))
    return diagnosed, differing_keys([d.row for d in diagnosed], _swept(runs))


def sweep_position(run: Run) -> tuple:
    """Where a run's configuration comes in its sweep (the order of the values in sweep.yaml), so that
    configurations read as the experiment lists them, whatever the order their runs were made in."""
    if run.sweep is None:
        return (str(run.path),)
    position: list[Any] = [str(run.sweep.path)]
    for key, values in run.sweep.record.sweep.items():
        matches = [i for i, value in enumerate(values) if _holds(run.config, key, value)]
        position.append(matches[0] if matches else len(values))
    return tuple(position)


def _holds(config: dict[str, Any], key: str, value: Any) -> bool:
    """Whether the flattened spec `config` has `value` (as written in a sweep) at the dotted `key`."""
    nested: Any = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return all(config.get(k, MISSING) == v for k, v in flatten_spec(nested).items())


def _swept(runs: Sequence[Run]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for run in runs if run.sweep for k in run.sweep.keys))


def aggregate(tables: Sequence[list[DiagnosticsRow]]) -> dict[int, list[LayerStats]]:
    """Per epoch that every table recorded, per layer: each statistic over the tables."""
    common = set.intersection(*({row.epoch for row in table} for table in tables))
    values: dict[tuple[int, str], dict[str, list[float]]] = {}
    layers: dict[tuple[int, str], tuple[int, str]] = {}
    for table in tables:
        for row in table:
            if row.epoch in common:
                key = (row.epoch, row.layer)
                layers[key] = (row.depth, row.activation)
                values.setdefault(key, {}).setdefault(row.statistic, []).append(row.value)
    out: dict[int, list[LayerStats]] = {}
    for (epoch, layer), stats in sorted(values.items(), key=lambda kv: (kv[0][0], layers[kv[0]][0])):
        depth, activation = layers[(epoch, layer)]
        out.setdefault(epoch, []).append(LayerStats(
            layer, depth, activation,
            values={s: _mean(s, v) for s, v in stats.items()},
            low={s: min(v) for s, v in stats.items()},
            high={s: max(v) for s, v in stats.items()},
        ))
    return out


def _mean(statistic: str, values: list[float]) -> float:
    if statistic in SCALE_STATISTICS and all(v > 0 for v in values):
        return statistics.geometric_mean(values)
    return statistics.fmean(values)
