"""The run directory: created exclusively, every file written atomically (temporary file + rename).

runs/<name>/<run-id>/ spec.yaml meta.json metrics.csv diagnostics.csv distributions.csv summary.json
checkpoints/{last,best}.pt log.txt
Plain files, so that anything (compare, pandas, a spreadsheet) can read a run. No torch import here;
checkpoints are written by the trainer through `atomic_path`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from cnnlab.rundir.csv_files import metrics_csv
from cnnlab.rundir.folders import RunDirError, experiment_dir
from cnnlab.rundir.records import MetricsRow, R, Record, RunMeta, json_text, read_json_record
from cnnlab.util.files import write_text_atomic
from cnnlab.util.yamlio import dump_yaml

ID_ATTEMPTS = 5  # new run ids tried when one is taken (ids carry a random suffix: a clash is rare)


class RunStore:
    """One run directory, created exclusively and never overwritten. meta.json is read, changed and
    written under a lock: the trainer, the heartbeat thread and a signal handler all update it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._meta_lock = threading.RLock()  # re-entrant: a signal handler may run inside an update

    @classmethod
    def create(cls, runs_dir: Path, name: str, make_id: Callable[[], str]) -> RunStore:
        """A new, empty run directory runs/<name>/<make_id()>; another id when one is taken."""
        parent = experiment_dir(runs_dir, name)
        for _ in range(ID_ATTEMPTS):
            path = parent / make_id()
            if path.parent != parent:  # ids are made by cnnlab; this is the last line of defence
                raise RunDirError(f"run id {path.name!r} is not a directory name")
            try:
                parent.mkdir(parents=True, exist_ok=True)
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as err:
                raise RunDirError(f"cannot create a run directory under {parent}: {err.strerror}; "
                                  f"choose another with --runs-dir") from None
            try:
                (path / "checkpoints").mkdir()
            except OSError as err:
                shutil.rmtree(path, ignore_errors=True)
                raise RunDirError(f"cannot create {path / 'checkpoints'}: {err.strerror}") from None
            return cls(path)
        raise RunDirError(f"{ID_ATTEMPTS} run ids in a row were taken under {parent}; try again")

    def file(self, name: str) -> Path:
        return self.path / name

    def write(self, name: str, record: Record) -> None:
        """A record as JSON (meta.json, summary.json)."""
        write_text_atomic(self.file(name), json_text(record))

    def read(self, name: str, cls: type[R]) -> R:
        return read_json_record(self.file(name), cls)

    def write_yaml(self, name: str, data: dict[str, Any]) -> None:
        write_text_atomic(self.file(name), dump_yaml(data))

    def write_metrics(self, rows: Sequence[MetricsRow]) -> None:
        """Rewrite metrics.csv with every epoch so far (a reader never sees half a row)."""
        write_text_atomic(self.file("metrics.csv"), metrics_csv(rows))

    def read_meta(self) -> RunMeta:
        return self.read("meta.json", RunMeta)

    def write_diagnostics(self, text: str) -> None:
        """Rewrite diagnostics.csv with every record so far: `text` as csv_files.diagnostics_csv renders them."""
        write_text_atomic(self.file("diagnostics.csv"), text)

    def write_distributions(self, text: str) -> None:
        """Rewrite distributions.csv with every record so far: `text` as csv_files.distributions_csv renders them."""
        write_text_atomic(self.file("distributions.csv"), text)

    def files(self) -> list[str]:
        """The files the run directory holds, relative to it (no temporary files)."""
        return sorted(str(p.relative_to(self.path)) for p in self.path.rglob("*")
                      if p.is_file() and not p.name.endswith(".tmp"))

    def update_meta(self, **changes: Any) -> RunMeta:
        with self._meta_lock:
            meta = RunMeta.model_validate({**self.read_meta().model_dump(), **changes})
            self.write("meta.json", meta)
            return meta

    def log(self, line: str) -> None:
        with self.file("log.txt").open("a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")

    def remove_temp_files(self) -> None:
        """Delete the temporary files of writes that never finished (a process stopped at once); not
        while this process writes meta.json (the heartbeat's thread, say), whose file would go too."""
        with self._meta_lock:
            for folder in (self.path, self.path / "checkpoints"):
                for tmp in folder.glob(".*.tmp"):
                    with contextlib.suppress(OSError):
                        os.unlink(tmp)
