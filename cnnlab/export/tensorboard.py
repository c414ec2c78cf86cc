"""`cnnlab export tensorboard RUNS --out DIR`: one folder of TensorBoard events per run,
DIR/<name>/<run-id>/ (cnnlab.export.events: the scalars of every epoch, the diagnostics, the
histograms of distributions.csv, the summary figures and the run's HParams session), and at DIR
itself the HParams tab's columns: the swept keys and seeds of the runs exported together, and their
final metrics. Every event's time comes from the run's files, so exporting again writes the same
bytes: a re-export changes nothing, or adds what a run did since."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cnnlab.compare.load import Run, load_runs
from cnnlab.compare.run_tables import read_table
from cnnlab.export.errors import writing
from cnnlab.rundir.csv_files import parse_diagnostics, parse_distributions
from cnnlab.rundir.records import FINISHED, RecordError, histogram_rows
from cnnlab.util.extras import require

HPARAM_METRICS = ("accuracy/val", "loss/val", "summary/best_val_acc", "summary/test_acc", "summary/test_loss",
                  "summary/final_train_loss", "summary/train_seconds")  # the HParams tab's metric columns


def export_tensorboard(paths: Sequence[Path], out: Path, warn: Callable[[str], None]) -> list[Path]:
    """Write the events of every run under `paths` into `out`; the folders written, one per run."""
    require("tensorboard", "cnnlab export tensorboard")
    from cnnlab.export import events

    runs = load_runs(paths, warn)
    hparams = {run.path: events.run_hparams(run.meta) if run.meta else {} for run in runs}
    columns: dict[str, list] = {}
    for values in hparams.values():
        for key, value in values.items():
            columns.setdefault(key, [])
            if value not in columns[key]:
                columns[key].append(value)
    kinds = {key: dict(zip(values, events.of_one_kind(values), strict=True)) for key, values in columns.items()}
    written = []
    with writing(f"--out {out}"):
        for run in runs:
            shown = {key: kinds[key][value] for key, value in hparams[run.path].items()}
            folder = out / str(run.config.get("name", run.path.parent.name)) / run.run_id
            write_run(run, shown, folder, warn)
            written.append(folder)
        domains = {key: list(kinds[key].values()) for key in columns}
        created = min(events.timestamp(run.started) for run in runs)
        events.EventFile(out / events.event_file_name(created)).write_new(
            [events.experiment(domains, HPARAM_METRICS, created)], created)
    return written


def write_run(run: Run, hparams: dict, folder: Path, warn: Callable[[str], None]) -> None:
    """One run's event file, whole."""
    from cnnlab.export import events

    diagnostics = _table(run, "diagnostics.csv", parse_diagnostics, "diagnostics", warn)
    histograms = histogram_rows(_table(run, "distributions.csv", parse_distributions, "histograms", warn))
    started = events.timestamp(run.started)
    group = events.configuration(run.meta) if run.meta else run.run_id
    written = [events.session_start(hparams, group, started),
               *events.history(started, run.rows, diagnostics, histograms)]
    ended = events.timestamp(run.meta.ended) if run.meta and run.meta.ended else events.epoch_times(
        started, run.rows)[run.rows[-1].epoch if run.rows else 0]
    if run.status in FINISHED:
        written.append(events.summary_event(run.summary, ended))
    written.append(events.session_end(run.status, ended))
    events.EventFile(folder / events.event_file_name(started)).write_new(written, started)


def _table(run: Run, name: str, parse, what: str, warn: Callable[[str], None]) -> list:
    """A run's tidy record `name` (none where it has none); a malformed one is left out with a warning."""
    try:
        return read_table(run, name, parse) or []
    except RecordError as err:
        warn(f"{err}; its {what} are left out")
        return []
