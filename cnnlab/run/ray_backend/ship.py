"""Run directories carried home: a Ray worker that cannot see --runs-dir trains into a temporary
directory of its own, and the finished run directory travels back through Ray's object store to the
process that started the sweep, which places it under --runs-dir in one rename. Until then nothing
of the run is there; once there, it is whole: the same files, byte for byte, that the worker wrote,
except that the worker's temporary path, where a message names it (meta.json's `error`, log.txt),
now reads as the run's real place.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cnnlab.rundir.folders import RunDirError
from cnnlab.rundir.records import RunMeta, json_text
from cnnlab.util.files import fsync_dir

INCOMING = ".incoming"  # under the runs directory: hidden, and too shallow for a run to be found in it
TEXT_WITH_PATHS = ("log.txt",)  # besides meta.json's error


@dataclass(frozen=True)
class ShippedRun:
    """A run directory as data: its name (the run id), where the worker wrote it, its folders and files."""

    run_id: str
    origin: str
    folders: tuple[str, ...]
    files: dict[str, bytes]


def pack(run_dir: Path) -> ShippedRun:
    """Everything in `run_dir`, read into memory (a run directory is small: its largest files are the
    two checkpoints)."""
    entries = sorted(run_dir.rglob("*"))
    folders = tuple(p.relative_to(run_dir).as_posix() for p in entries if p.is_dir())
    return ShippedRun(run_dir.name, str(run_dir), folders,
                      {p.relative_to(run_dir).as_posix(): p.read_bytes() for p in entries if p.is_file()})


def place(shipped: ShippedRun, runs_dir: Path, experiment: Path) -> Path:
    """Write `shipped` beside the runs, synced to disk, then rename it to `experiment`/<run id>; an
    existing directory is never replaced."""
    target = experiment / shipped.run_id
    if not _is_name(shipped.run_id):
        raise RunDirError(f"a shipped run's id {shipped.run_id!r} is not a directory name")
    incoming = Path(runs_dir) / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{shipped.run_id}.", dir=incoming))
    try:
        built = staging / shipped.run_id
        built.mkdir()
        for folder in shipped.folders:
            (built / _relative(folder)).mkdir(parents=True, exist_ok=True)
        for name, data in _relocated(shipped, str(target)).items():
            path = built / _relative(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        for folder in {built, *(p for p in built.rglob("*") if p.is_dir())}:
            fsync_dir(folder)
        experiment.mkdir(parents=True, exist_ok=True)
        if target.exists():  # rename would replace an empty directory: never overwrite one
            raise RunDirError(f"{target} exists already; the shipped run stays in {built}")
        os.rename(built, target)
        fsync_dir(experiment)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):  # another placement may be using it
            incoming.rmdir()
    return target


def _relocated(shipped: ShippedRun, final: str) -> dict[str, bytes]:
    """The files, with the worker's path replaced by the final one in the messages that name it."""
    files = dict(shipped.files)
    if "meta.json" in files:
        meta = RunMeta.model_validate_json(files["meta.json"])
        if meta.error and shipped.origin in meta.error:
            moved = meta.model_copy(update={"error": meta.error.replace(shipped.origin, final)})
            files["meta.json"] = json_text(moved).encode()
    for name in TEXT_WITH_PATHS:
        if name in files:
            files[name] = files[name].replace(shipped.origin.encode(), final.encode())
    return files


def _is_name(text: str) -> bool:
    return bool(text) and text not in (".", "..") and "/" not in text and "\\" not in text and "\0" not in text


def _relative(name: str) -> PurePosixPath:
    """A path inside the run directory; anything that could lead out of it is refused."""
    path = PurePosixPath(name)
    if path.is_absolute() or not path.parts or not all(_is_name(part) for part in path.parts):
        raise RunDirError(f"a shipped run holds the path {name!r}, which would lead out of its directory")
    return path
