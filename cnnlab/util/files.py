"""Atomic file writes: a reader (or a crash) never sees half a file.

A file is written to a temporary name beside its target, flushed to disk, then renamed over the
target in one step. Files get the permissions of the process umask (as `open` would give them),
not mkstemp's owner-only ones: run directories are meant to be read by anyone.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@functools.cache
def process_umask() -> int:
    """The process umask, read without changing it where Linux shows it in /proc (changing it, even
    for a moment, races with any other thread creating files); elsewhere set and restored once."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: not every filesystem allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; once the caller has written it, it is synced to disk
    and replaces `path` in one rename. On any error the temporary file is removed (and an OSError
    that names no file, a full disk at fsync, is raised again naming `path`)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)  # the data on disk before the name points at it: no empty file after a power loss
        finally:
            os.close(fd)
        os.chmod(tmp, 0o666 & ~process_umask())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(err, OSError) and err.errno and err.filename is None:  # fsync's says no file: name it
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise
    fsync_dir(path.parent)


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def written_file(filename: Any) -> str:
    """The file a write was for, not the temporary name atomic_path gave it:
    `…/checkpoints/.last.pt.k2j3h4g5.tmp` → `…/checkpoints/last.pt`."""
    path = Path(os.fsdecode(filename))
    match = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", path.name)
    return str(path.with_name(match.group(1)) if match else path)
