"""The run directory: created exclusively, every file written atomically (temporary file + rename).

runs/<name>/<run-id>/ spec.yaml meta.json metrics.csv summary.json checkpoints/{last,best}.pt log.txt
Plain files, so that anything (compare, pandas, a spreadsheet) can read a run. No torch import here;
checkpoints are written by the trainer through `atomic_path`.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.yamlio import dump_yaml

_UMASK = os.umask(0)
os.umask(_UMASK)

METRIC_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


class RunDirError(CnnlabError):
    """A runs directory that cannot be used."""


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path` in one rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes owner-only files; run files are for anyone to read
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def slug(value: Any, limit: int = 24) -> str:
    """A value as a short, filesystem-safe piece of a run id (a list or mapping: a short digest)."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):  # a registry choice with options
        value = "_".join([value["name"], *(f"{k}{v}" for k, v in value.items() if k != "name")])
    if isinstance(value, (list, dict)):
        return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:6]
    text = re.sub(r"[^A-Za-z0-9.]+", "_", str(value)).strip("_")
    return text[:limit] or "x"


def make_run_id(swept: dict[str, Any], seed: int, now: datetime | None = None) -> str:
    """`20261127-041213-relu-s0-3f9c`: time, swept values, seed, a random suffix for uniqueness."""
    parts = [(now or datetime.now()).strftime("%Y%m%d-%H%M%S")]
    parts += [slug(v) for v in swept.values()]
    parts += [f"s{seed}", secrets.token_hex(2)]
    return "-".join(parts)


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

    def write_json(self, name: str, data: dict[str, Any]) -> None:
        write_text_atomic(self.file(name), json.dumps(data, indent=2, sort_keys=False) + "\n")

    def read_json(self, name: str) -> dict[str, Any]:
        return json.loads(self.file(name).read_text(encoding="utf-8"))

    def write_yaml(self, name: str, data: dict[str, Any]) -> None:
        write_text_atomic(self.file(name), dump_yaml(data))

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        """Rewrite metrics.csv with every epoch so far (a reader never sees half a row)."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(row.get(k)) for k in METRIC_COLUMNS})
        write_text_atomic(self.file("metrics.csv"), buf.getvalue())

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        meta = self.read_json("meta.json") if self.file("meta.json").exists() else {}
        meta.update(changes)
        self.write_json("meta.json", meta)
        return meta

    def log(self, line: str) -> None:
        with self.file("log.txt").open("a", encoding="utf-8") as fh:
            fh.write(line.rstrip("\n") + "\n")


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value
