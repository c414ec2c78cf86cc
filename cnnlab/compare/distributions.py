"""Runs' distributions.csv for inspect's percentiles and histograms views: grouped by configuration as
compare groups runs, the percentiles averaged over seeds step by step, the histograms one seed's.

Reads files only, through the run records; never imports torch.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cnnlab.compare.labels import configuration_labels
from cnnlab.compare.load import Run
from cnnlab.compare.metrics import CompareError
from cnnlab.compare.run_tables import grouped_tables
from cnnlab.rundir.csv_files import parse_distributions
from cnnlab.rundir.records import HISTOGRAM_BINS, PERCENTILES, DistributionRow, bin_statistic, percentile_statistic

NO_DISTRIBUTIONS = ("it was trained by a cnnlab without distributions or with train.diagnostics.every: 0; "
                    "train it again to draw them")
BINS = tuple(bin_statistic(i) for i in range(HISTOGRAM_BINS))
PERCENTILE_NAMES = tuple(percentile_statistic(p) for p in PERCENTILES)


@dataclass(frozen=True)
class Histogram:
    """A normalized histogram: HISTOGRAM_BINS masses (they sum to 1) of equal bins from low to high."""

    low: float
    high: float
    masses: tuple[float, ...]

    def centres(self) -> list[float]:
        width = (self.high - self.low) / len(self.masses)
        return [self.low + width * (i + 0.5) for i in range(len(self.masses))]

    def densities(self) -> list[float]:
        """Mass over bin width: comparable between histograms of different ranges."""
        width = (self.high - self.low) / len(self.masses)
        return [m / width for m in self.masses]


@dataclass
class Distributed:
    """One configuration's distributions: per (layer, quantity), the percentiles by step (the mean over
    its runs, at the steps every run recorded), and per epoch (0: init) the histograms of its first
    run (the lowest seed: histograms of different ranges do not average)."""

    label: str
    runs: list[Run]
    layers: list[str]  # in depth order
    percentiles: dict[tuple[str, str], dict[int, dict[str, float]]]
    histograms: dict[int, dict[tuple[str, str], Histogram]]


def distributed(runs: Sequence[Run], warn: Callable[[str], None]) -> list[Distributed]:
    """The configurations of `runs` whose runs recorded distributions, in the experiment's order."""
    groups, tables, keys = grouped_tables(runs, "distributions.csv", parse_distributions, NO_DISTRIBUTIONS, warn)
    labels = configuration_labels([row for row, _ in groups], [used for _, used in groups], keys)
    out = []
    for (_, used), label in zip(groups, labels, strict=True):
        used = sorted(used, key=lambda run: (run.config.get("seed", 0), run.run_id))
        rows = [tables[str(run.path)] for run in used]
        layers = sorted({(r.depth, r.layer) for r in rows[0]})
        out.append(Distributed(label, used, [name for _, name in layers], _percentiles(rows),
                               _histograms(rows[0])))
    return out


def _percentiles(tables: Sequence[list[DistributionRow]]) -> dict[tuple[str, str], dict[int, dict[str, float]]]:
    at: dict[tuple[str, str], dict[int, dict[str, list[float]]]] = {}
    for table in tables:
        for r in table:
            if r.statistic in PERCENTILE_NAMES:
                at.setdefault((r.layer, r.quantity), {}).setdefault(r.step, {}).setdefault(r.statistic, []).append(
                    r.value)
    return {key: {step: {s: statistics.fmean(v) for s, v in values.items()}
                  for step, values in sorted(by_step.items()) if all(len(v) == len(tables) for v in values.values())}
            for key, by_step in at.items()}


def _histograms(table: list[DistributionRow]) -> dict[int, dict[tuple[str, str], Histogram]]:
    found: dict[tuple[int, str, str], dict[str, float]] = {}
    for r in table:
        if r.statistic in BINS or r.statistic in ("low", "high"):
            found.setdefault((r.epoch, r.layer, r.quantity), {})[r.statistic] = r.value
    out: dict[int, dict[tuple[str, str], Histogram]] = {}
    for (epoch, layer, quantity), values in found.items():
        if {"low", "high", *BINS} <= values.keys():
            out.setdefault(epoch, {})[(layer, quantity)] = Histogram(values["low"], values["high"],
                                                                     tuple(values[b] for b in BINS))
    return out


def chosen_layers(found: Sequence[Distributed], layers: Sequence[str] | None) -> list[str]:
    """The layers a figure shows: `layers` (each one every configuration has), else all of the first
    configuration's."""
    if not layers:
        return list(found[0].layers)
    for d in found:
        unknown = [name for name in layers if name not in d.layers]
        if unknown:
            raise CompareError(f"--layers {','.join(unknown)}: no such layer in {d.label} (its layers: "
                               f"{', '.join(d.layers)})")
    return list(layers)


def histogram_epoch(found: Sequence[Distributed], epoch: int | None) -> int:
    """The epoch whose histograms a figure shows: `epoch`, default init; every configuration must have it."""
    chosen = epoch or 0
    for d in found:
        if chosen not in d.histograms:
            raise CompareError(f"--epoch {chosen}: no histograms recorded for {d.label} (recorded: "
                               f"{', '.join(map(str, sorted(d.histograms)))})")
    return chosen
