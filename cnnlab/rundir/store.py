"""The run directory: created exclusively, every file written atomically (temporary file + rename).

runs/<name>/<run-id>/ spec.yaml meta.json metrics.csv summary.json checkpoints/{last,best}.pt log.txt
Plain files, so that anything (compare, pandas, a spreadsheet) can read a run. No torch import here;
checkpoints are written by the trainer through `atomic_path`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.rundir.records import MetricsRow, R, Record, RunMeta, json_text, metrics_csv, read_json_record
from cnnlab.util.files import write_text_atomic
from cnnlab.util.yamlio import dump_yaml


class RunDirError(CnnlabError):
    """A runs directory that cannot be used."""


class RunStore:
    """One run directory, created exclusively and never overwritten."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, runs_dir: Path, name: str, run_id: str) -> RunStore:
        root = Path(runs_dir).resolve()
        path = (root / name / run_id).resolve()
        if root not in path.parents:  # names are validated, this is the last line of defence
            raise RunDirError(f"run directory {path} would escape the runs directory {root}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.mkdir()
            (path / "checkpoints").mkdir()
        except FileExistsError:
            raise RunDirError(f"{path} already exists; run directories are never overwritten") from None
        except OSError as err:
            raise RunDirError(f"cannot create a run directory under {root}: {err.strerror}; "
                              f"choose another with --runs-dir") from None
        return cls(path)

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

    def update_meta(self, **changes: Any) -> RunMeta:
        meta = RunMeta.model_validate({**self.read("meta.json", RunMeta).model_dump(), **changes})
        self.write("meta.json", meta)
        return meta

    def log(self, line: str) -> None:
        with self.file("log.txt").open("a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")
