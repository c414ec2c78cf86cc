"""`cnnlab.Run`: one run directory, read-only, through the records every reader uses (the run as
cnnlab.compare.load reads it, its spec validated by cnnlab.run.saved, its model rebuilt by
cnnlab.run.saved_model)."""

from __future__ import annotations

import functools
from os import PathLike
from pathlib import Path
from typing import Any

from cnnlab.api.frames import frame, warn
from cnnlab.compare.find import find_run
from cnnlab.compare.load import load_run
from cnnlab.compare.run_tables import read_table
from cnnlab.rundir.csv_files import DIAGNOSTIC_COLUMNS, METRIC_COLUMNS, parse_diagnostics
from cnnlab.rundir.records import RunMeta, RunSummary


class Run:
    """A run directory, read-only: `.path`, `.id`, `.status`, its resolved `.spec` (a cnnlab.spec.Spec), `.meta`
    (meta.json), `.summary` (summary.json, or for a run still going what its metrics.csv shows),
    `.metrics` and `.diagnostics` as DataFrames, and `.load_model()`. Its files are read when the Run
    is made; nothing here writes."""

    def __init__(self, path: str | PathLike) -> None:
        """`path`: a run directory, or as `cnnlab eval` takes it, a piece of a run id (runs/activations/relu-s1)."""
        from cnnlab.run.saved import read_run_spec

        found = find_run(Path(path), warn=warn)  # one run, or the CompareError that cnnlab eval prints
        read_run_spec(found)  # its spec.yaml readable, or the RunError a command prints
        self._run = load_run(found, warn)

    def __setattr__(self, name: str, value: Any) -> None:
        if name != "_run" or hasattr(self, "_run"):
            raise AttributeError(f"a Run is read-only: {name} cannot be set")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, status={self.status!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other.path.resolve() == self.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    @property
    def path(self) -> Path:
        return self._run.path

    @property
    def id(self) -> str:
        return self._run.run_id

    @property
    def status(self) -> str:
        """completed, diverged, failed, interrupted, running, or stale (running, but its process is gone)."""
        return self._run.status

    @property
    def meta(self) -> RunMeta | None:
        """meta.json (None when it could not be read)."""
        return self._run.meta

    @property
    def summary(self) -> RunSummary:
        return self._run.summary

    @functools.cached_property
    def spec(self) -> Any:
        """The resolved spec it trained with (spec.yaml), validated: a cnnlab.spec.Spec."""
        from cnnlab.run.saved import read_run_spec, validate_run_spec

        return validate_run_spec(self.path, read_run_spec(self.path))

    @property
    def metrics(self) -> Any:
        """metrics.csv: one row per epoch (epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds)."""
        return frame((row.model_dump() for row in self._run.rows), METRIC_COLUMNS)

    @property
    def diagnostics(self) -> Any:
        """diagnostics.csv: one row per recorded epoch, layer and statistic (empty when it has none)."""
        rows = read_table(self._run, "diagnostics.csv", parse_diagnostics) or ()
        return frame((row.model_dump() for row in rows), DIAGNOSTIC_COLUMNS)

    def load_model(self, checkpoint: str = "best", device: str = "cpu") -> Any:
        """The torch.nn.Module it trained, with the weights of checkpoints/best.pt (or "last"), in eval
        mode. It takes normalized images, as the run fed it: see summary.normalization."""
        from cnnlab.run.saved_model import load_saved_model

        return load_saved_model(self.path, checkpoint, device).model
