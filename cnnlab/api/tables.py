"""Runs as pandas DataFrames: `cnnlab.load_runs`, `load_metrics`, `load_diagnostics` and `compare`.

Every one reads the runs through cnnlab compare's loader (cnnlab.compare.load: the typed records of
cnnlab.rundir), so a DataFrame holds exactly what `cnnlab compare` and `cnnlab inspect` show; a run
or file that cannot be read is left out with a RunWarning, as the commands warn."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, get_origin

from cnnlab.api.frames import frame, run_paths, warn
from cnnlab.compare.load import Run
from cnnlab.compare.load import load_runs as read_runs
from cnnlab.compare.run_tables import read_table
from cnnlab.rundir.csv_files import DIAGNOSTIC_COLUMNS, METRIC_COLUMNS, parse_diagnostics
from cnnlab.rundir.records import RecordError, RunSummary

RUN_COLUMNS = ("id", "path", "status", "started")  # before the spec's keys in load_runs
SUMMARY_FIGURES = tuple(name for name, field in RunSummary.model_fields.items()
                        if name != "schema_version" and get_origin(field.annotation) not in (list, dict))
"""summary.json's single figures (best_val_acc, test_acc, params, train_seconds ...): its columns."""

Paths = Sequence[str | Path]


def _runs(paths: Paths, warn: Callable[[str], None], curves: bool = True) -> list[Run]:
    return read_runs(run_paths(paths), warn=warn, curves=curves)


def load_runs(*paths: str | Path, warn: Callable[[str], None] = warn) -> Any:
    """One row per run at or under `paths` (run, sweep or runs directories; default: runs/): id, path,
    status (`stale`: running, but its process is gone), started, the resolved spec flattened into
    dotted columns (`model.activation`, `train.optimizer.lr`, `model.conv[0].kernel_size` ...) and
    summary.json's figures (best_val_acc, test_acc, params ...; for a run still going, what its
    metrics.csv shows)."""
    records = []
    for run in _runs(paths, warn, curves=False):  # the summaries: metrics.csv only where there is none
        summary = run.summary
        records.append({"id": run.run_id, "path": str(run.path), "status": run.status, "started": run.started,
                        **run.config, **{name: getattr(summary, name) for name in SUMMARY_FIGURES}})
    return frame(records, (*RUN_COLUMNS, *SUMMARY_FIGURES))


def load_metrics(*paths: str | Path, warn: Callable[[str], None] = warn) -> Any:
    """metrics.csv of every run, tidy: one row per run and epoch, with the run's id (join it to
    load_runs' table on `id` for the spec's keys) and epoch, train_loss, train_acc, val_loss, val_acc,
    lr, seconds."""
    return frame(({"id": run.run_id, **row.model_dump()} for run in _runs(paths, warn) for row in run.rows),
                 ("id", *METRIC_COLUMNS))


def load_diagnostics(*paths: str | Path, warn: Callable[[str], None] = warn) -> Any:
    """diagnostics.csv of every run (what `cnnlab inspect` reads), tidy: one row per run, recorded
    epoch (0: at init), layer and statistic, with the run's id and epoch, layer, depth, activation,
    statistic, value. Runs without the file are left out."""
    records = []
    for run in _runs(paths, warn):
        try:
            rows = read_table(run, "diagnostics.csv", parse_diagnostics)
        except RecordError as err:
            warn(f"{err}; left out")
            continue
        records += [{"id": run.run_id, **row.model_dump()} for row in rows or ()]
    return frame(records, ("id", *DIAGNOSTIC_COLUMNS))


def compare(*paths: str | Path, where: Sequence[str] = (), sort: str | None = None, ascending: bool = False,
            top: int | None = None, metrics: str | Sequence[str] | None = None, aggregate: bool | None = None,
            all_params: bool = False, warn: Callable[[str], None] = warn) -> Any:
    """`cnnlab compare`'s table, with raw numbers: one row per configuration (its seeds aggregated:
    <metric>_mean, <metric>_std and n columns, `runs` the paths behind it) or, with aggregate=False,
    per run; the spec keys that differ first. The options are compare's: where=["test_acc>90"],
    sort="best_val_acc", top=5, metrics="test_acc,epochs_to(val_acc>=0.9)" (or a list of names)."""
    from cnnlab.compare.build import build_comparison  # what only compare needs: load_runs starts faster
    from cnnlab.compare.metrics import parse_columns
    from cnnlab.compare.render import table_records

    chosen = metrics if metrics is None or isinstance(metrics, str) else ",".join(metrics)
    comparison = build_comparison(_runs(paths, warn), where=where, sort=sort, ascending=ascending, top=top,
                                  columns=parse_columns(chosen), aggregate=aggregate, all_params=all_params)
    return frame(table_records(comparison))
