"""Per-layer diagnostics of runs (their diagnostics.csv) for `cnnlab inspect`: grouped by
configuration and aggregated over seeds as compare groups runs, and the plain-language flags.

Reads files only, through the run records; never imports torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cnnlab.compare.flags import LayerStats
from cnnlab.compare.load import Run
from cnnlab.compare.rows import Row
from cnnlab.compare.run_tables import grouped_tables
from cnnlab.rundir.csv_files import parse_diagnostics
from cnnlab.rundir.records import DiagnosticsRow

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


def diagnose(runs: Sequence[Run], warn: Callable[[str], None]) -> tuple[list[Diagnosed], list[str]]:
    """The configurations of `runs` whose runs have diagnostics, and the spec keys that tell them
    apart. Runs without diagnostics are left out with a warning; none at all is an error."""
    groups, tables, keys = grouped_tables(runs, "diagnostics.csv", parse_diagnostics, NO_DIAGNOSTICS, warn)
    return [Diagnosed(row, used, aggregate([tables[str(r.path)] for r in used])) for row, used in groups], keys


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
