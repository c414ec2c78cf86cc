"""Read run directories through the typed run records: the flattened spec, status, figures and
per-epoch curves of every run, and the sweep each belongs to.

Only plain files are read, never torch, so loading a thousand runs takes a fraction of a second.
A run whose files are malformed is skipped (or shown without the broken part) with one warning line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.compare.metrics import METRICS, CompareError
from cnnlab.rundir.csv_files import parse_metrics
from cnnlab.rundir.curves import parse_curve_metric
from cnnlab.rundir.liveness import observed_status
from cnnlab.rundir.records import (
    FINISHED,
    OUTPUT_ONLY,
    MetricsRow,
    MissingRecord,
    Monitor,
    NewerRecord,
    RecordError,
    RunMeta,
    RunSummary,
    SweepRecord,
    epoch_figures,
    parse_json_record,
    read_text,
    validate_record,
)
from cnnlab.util.yamlio import YamlError, load_yaml

DEFAULT_RUNS = Path("runs")  # where `cnnlab train` writes, relative to the working directory
RUN_MARKERS = ("meta.json", "spec.yaml")  # a directory holding either is a run directory
SPEC_SUFFIXES = (".yaml", ".yml")
# Runs that differ only in these are one configuration (of one experiment): their seed, and what else they wrote.
IDENTITY_KEYS = frozenset({"seed", *OUTPUT_ONLY})
STATUS_ORDER = ("completed", "diverged", "running", "interrupted", "stale", "failed", "unknown")
MISSING = object()  # a key a run's spec does not have (differs from an explicit null)


@dataclass(frozen=True)
class Curves:
    """A run's per-epoch history from metrics.csv (None where a cell was empty)."""

    epochs: tuple[int, ...] = ()
    val_acc: tuple[float | None, ...] = ()
    train_loss: tuple[float | None, ...] = ()


@dataclass(frozen=True)
class Sweep:
    """A sweep group directory (runs/<name>/ with sweep.yaml): its name and swept keys."""

    path: Path
    name: str
    keys: tuple[str, ...]
    record: SweepRecord = field(compare=False)  # the experiment: its sweep, description, claims, command


@dataclass
class Run:
    path: Path
    run_id: str
    status: str  # a RunMeta status, "stale" (running, but its process is gone), or "unknown" (no meta.json)
    started: str  # ISO time, "" when unknown; orders re-runs of the same seed
    config: dict[str, Any]  # flattened spec: dotted key → hashable value, in spec order
    metrics: dict[str, float | None]
    curves: Curves
    summary: RunSummary  # summary.json, or what metrics.csv shows while there is none
    rows: tuple[MetricsRow, ...] = ()  # metrics.csv
    meta: RunMeta | None = None  # meta.json, when it could be read
    sweep: Sweep | None = None

    @property
    def seed(self) -> Any:
        return self.config.get("seed")

    @property
    def swept(self) -> dict[str, Any]:
        """The sweep values that made the run."""
        return self.meta.swept if self.meta else {}

    def value(self, name: str) -> float | None:
        """A metric of the run: a figure of its summary, or of its learning curve (epochs_to, auc)."""
        if name in self.metrics:
            return self.metrics[name]
        curve = parse_curve_metric(name)
        return curve.value(self.rows, self.config.get("train.epochs")) if curve is not None else None


def flatten_spec(spec: dict) -> dict[str, Any]:
    """`{model: {conv: [{kernel_size: [3, 3]}], activation: {name: relu}}}` →
    `{"model.conv[0].kernel_size": (3, 3), "model.activation": "relu"}`.

    A registry choice (a mapping with a `name`) reads as its name under its own key, its options as
    sub-keys; lists of scalars stay one (tuple) value so that they can be grouped on. A list of
    mappings also gets its length, `len(model.conv)`: the depth, when depth is what differs.
    """
    flat: dict[str, Any] = {}
    _flatten(spec, "", flat)
    return flat


def _flatten(value: Any, key: str, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        items: Iterable = value.items()
        if key and isinstance(value.get("name"), str):
            out[key] = value["name"]
            items = ((k, v) for k, v in value.items() if k != "name")
        for k, v in items:
            _flatten(v, f"{key}.{k}" if key else str(k), out)
    elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
        out[f"len({key})"] = len(value)
        for i, v in enumerate(value):
            _flatten(v, f"{key}[{i}]", out)
    else:
        out[key] = hashable(value)


PARENT_KEY = re.compile(r"^(?!len\()(.+)(?:\.[^.\[\]]+|\[\d+\])$")  # `a.b[2].c` → `a.b[2]` → `a.b` → `a`


def spec_value(config: dict[str, Any], key: str) -> Any:
    """A flattened spec's value under `key`; where the spec has no such key because a key above it is
    null (`model.conv[0].pool.type` of a layer whose `pool` is null), null; otherwise MISSING."""
    at = key
    while at not in config:
        parent = PARENT_KEY.match(at)
        if parent is None:
            return MISSING
        at = parent.group(1)
    value = config[at]
    return value if at == key or value is None else MISSING


def hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((str(k), hashable(v)) for k, v in value.items()))
    return value


def find_run_dirs(paths: Sequence[Path]) -> list[Path]:
    """Every run directory at or under `paths` (each counted once), in path order."""
    found: dict[str, Path] = {}
    for root in paths:
        if not root.is_dir():
            raise CompareError(no_runs_at(root))
        real = os.path.realpath(root)  # the walk follows no links, so below root paths are unique
        for dirpath in _walk(str(root)):
            found.setdefault(real + dirpath[len(str(root)) :], Path(dirpath))
    return list(found.values())


def no_runs_at(path: Path) -> str:
    """Why `path`, which is no directory, holds no runs; for a spec file, where its runs are."""
    if not path.exists():
        return f"{path} does not exist"
    if path.suffix not in SPEC_SUFFIXES:
        return f"{path} is not a directory"
    try:
        name = load_yaml(read_text(path)).get("name")
    except (RecordError, YamlError, AttributeError):  # not readable, or not a mapping: no name to go by
        name = None
    folder = DEFAULT_RUNS / (name if isinstance(name, str) else "<name>")
    return (f"{path} is a spec file, where a run or a runs folder was expected; cnnlab train puts its runs in "
            f"{folder}/: name that folder or a run in it")


def _walk(root: str) -> Iterator[str]:
    for dirpath, dirnames, filenames in os.walk(root):
        if any(marker in filenames for marker in RUN_MARKERS):
            dirnames.clear()  # checkpoints/ and the like hold no runs
            yield dirpath
        else:
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))


class SpecReader:
    """spec.yaml text → flattened spec, parsing each distinct top-level section once.

    Parsing YAML is most of the cost of comparing a thousand runs, yet runs share most of their
    specs: seeds differ only in `seed:`, sweep groups in `name:`, a sweep in a key or two. So a text
    is cut at its top-level keys and each distinct piece is parsed and flattened once. Anything the
    pieces do not parse to mappings alone (an alias across sections, a broken file) is parsed whole,
    which also gives the error message its true line number.
    """

    TOP_LEVEL_KEY = re.compile(r"^(?=\S)", re.MULTILINE)

    def __init__(self) -> None:
        self._pieces: dict[str, dict[str, Any] | None] = {}

    def __call__(self, text: str) -> dict[str, Any] | None:
        """The flattened spec, or None when the text is YAML but not a mapping."""
        flat: dict[str, Any] = {}
        try:
            for piece in self.TOP_LEVEL_KEY.split(text):
                part = self._piece(piece)
                if part is None:
                    break
                flat.update(part)
            else:
                return flat
        except YamlError:
            pass
        spec = load_yaml(text)
        return flatten_spec(spec) if isinstance(spec, dict) else None

    def _piece(self, text: str) -> dict[str, Any] | None:
        if text not in self._pieces:
            value = load_yaml(text)
            value = {} if value is None else value  # a blank line, a comment, a document marker
            self._pieces[text] = flatten_spec(value) if isinstance(value, dict) else None
        return self._pieces[text]


def _spec(folder: str, read_spec: SpecReader) -> dict[str, Any]:
    path = os.path.join(folder, "spec.yaml")
    try:
        config = read_spec(read_text(path))
    except YamlError as err:
        raise RecordError(path, f"unreadable: {err}") from None
    if config is None:
        raise RecordError(path, "not a YAML mapping")
    return config


def _record(folder: str, name: str, cls: type, warn: Callable[[str], None], consequence: str,
            expected: bool = True):
    """The record in `folder/name`, or None with a warning saying the `consequence` (none for an absent
    file that is not `expected` yet). A file of a newer cnnlab stops the reading: whatever this one
    showed of it could be wrong, and what to do is the same for every such file."""
    path = os.path.join(folder, name)
    try:
        return parse_json_record(read_text(path), cls, path)
    except MissingRecord:
        if expected:
            warn(f"{folder}: {name} is missing; {consequence}")
    except NewerRecord:
        raise
    except RecordError as err:
        warn(f"{folder}: {name} is {err.reason}; {consequence}")
    return None


def load_run(path: Path, warn: Callable[[str], None], read_spec: SpecReader | None = None,
             curves: bool = True) -> Run | None:
    """One run directory, or None (with a warning) when it is unusable: no readable spec.yaml. Without
    `curves`, metrics.csv is read only where no summary.json stands for it (cnnlab.load_runs shows the
    summary alone, and over a thousand runs the CSV files cost it a third of its time)."""
    folder = str(path)  # os.path.join: pathlib's joins cost a tenth of the load over a thousand runs
    try:
        config = _spec(folder, read_spec or SpecReader())
    except RecordError as err:
        warn(f"skipping {path}: spec.yaml is {err.reason}")
        return None
    meta = _record(folder, "meta.json", RunMeta, warn, "status unknown")
    status = observed_status(meta) if meta else "unknown"  # `stale`: running, but its process is gone
    summary = _record(folder, "summary.json", RunSummary, warn, "numbers come from metrics.csv",
                      expected=status in FINISHED)
    rows, bad = [], 0
    metrics_path = os.path.join(folder, "metrics.csv")
    try:
        if curves or summary is None:
            rows, bad = parse_metrics(read_text(metrics_path), metrics_path)
    except MissingRecord:
        pass
    except RecordError as err:
        warn(str(err))
    if bad:
        warn(f"{path}: metrics.csv: skipped {bad} unreadable row(s)")
    if summary is None:  # not finished (or its summary unreadable): what metrics.csv shows (if anything)
        monitor = Monitor(config.get("train.monitor", "val_acc"), config.get("train.min_delta", 0.0))
        summary = RunSummary(**epoch_figures(rows, monitor)) if rows else RunSummary()
    metrics = {name: getattr(summary, metric.source or name) for name, metric in METRICS.items()}
    curves = Curves(tuple(r.epoch for r in rows), tuple(r.val_acc for r in rows), tuple(r.train_loss for r in rows))
    return Run(
        path=path,
        run_id=meta.run_id if meta else path.name,
        status=status,
        started=meta.started if meta else "",
        config=config,
        metrics=metrics,
        curves=curves,
        summary=summary,
        rows=tuple(rows),
        meta=meta,
    )


def _load_sweep(group: Path, warn: Callable[[str], None]) -> Sweep | None:
    path = group / "sweep.yaml"
    try:
        record = validate_record(load_yaml(read_text(path)), SweepRecord, path)
    except MissingRecord:
        return None
    except NewerRecord:
        raise
    except RecordError as err:
        warn(f"{group}: sweep.yaml is {err.reason}; its runs are shown without it")
        return None
    except YamlError as err:
        warn(f"{group}: sweep.yaml is unreadable ({err}); its runs are shown without it")
        return None
    return Sweep(group, record.name, tuple(record.sweep), record)


def load_runs(paths: Sequence[Path], warn: Callable[[str], None], curves: bool = True) -> list[Run]:
    """All readable runs at or under `paths`; unusable ones are skipped with one warning line each.
    `curves`: as load_run takes it."""
    run_dirs = find_run_dirs(paths)
    where = ", ".join(str(p) for p in paths)
    if not run_dirs:
        raise CompareError(f"no runs found under {where} (a run directory holds meta.json or spec.yaml)")
    sweeps: dict[Path, Sweep | None] = {}
    read_spec = SpecReader()
    runs = []
    for run_dir in run_dirs:
        run = load_run(run_dir, warn, read_spec, curves)
        if run is None:
            continue
        group = run_dir.parent
        if group not in sweeps:
            sweeps[group] = _load_sweep(group, warn)
        run.sweep = sweeps[group]
        runs.append(run)
    if not runs:
        raise CompareError(f"none of the {len(run_dirs)} run directories under {where} could be read")
    return runs
