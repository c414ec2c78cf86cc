"""The one way cnnlab opens a file to read it: a regular file under a size cap, checked on the opened
descriptor (fstat), so that nothing can swap the file between the check and the read.

A FIFO would block a reader forever, /dev/zero would fill its memory, a 50 MB "spec" would take
minutes to parse: each is refused in one line naming the file, before anything is read. The caps
are named here, once.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from cnnlab.errors import CnnlabError
from cnnlab.util.memory import machine_memory
from cnnlab.util.text import binary_size

SPEC_BYTES = 1 << 20  # an experiment spec, a run's spec.yaml, a sweep.yaml: written by hand, a few KB
RECORD_BYTES = 16 << 20  # meta.json, summary.json, metrics.csv, diagnostics.csv, claims.json: at most a few MB


def checkpoint_bytes() -> int:
    """A checkpoint (last.pt, best.pt, a dataset's decoded cache) is read whole: at most the machine's memory."""
    return machine_memory()


# Opening a FIFO for reading waits for a writer; without blocking it opens at once, and fstat refuses it.
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)

_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


class NotReadable(CnnlabError):
    """A file cnnlab does not read: not a regular file, or larger than its cap."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


def _open(path: str | Path, limit: int, what: str) -> tuple[int, int]:
    """The descriptor of `path` opened for reading, and its size; NotReadable (the descriptor closed)
    when it is not a regular file or holds more than `limit` bytes."""
    fd = os.open(path, _FLAGS)
    try:
        mode = os.fstat(fd)
        if not stat.S_ISREG(mode.st_mode):
            kind = next((name for test, name in _KINDS if test(mode.st_mode)), "not a regular file")
            raise NotReadable(path, f"{kind}, not a regular file (cnnlab reads only regular files)")
        if mode.st_size > limit:
            raise NotReadable(path, too_large(mode.st_size, limit, what))
        return fd, mode.st_size
    except BaseException:
        os.close(fd)
        raise


def open_bounded(path: str | Path, limit: int, what: str = "file") -> BinaryIO:
    """`path` opened for reading in binary; NotReadable when it is not a regular file or holds more than
    `limit` bytes (`what` names the kind of file in the message); FileNotFoundError and other OSErrors
    as `open` raises them."""
    fd, _ = _open(path, limit, what)
    return os.fdopen(fd, "rb")


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes (see open_bounded); a file that grows past
    the cap while it is read is refused too."""
    fd, size = _open(path, limit, what)
    try:
        chunks, total = [], 0
        while chunk := os.read(fd, max(size + 1 - total, 1 << 16)):
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                raise NotReadable(path, too_large(total, limit, what))
    finally:
        os.close(fd)
    return b"".join(chunks)


def too_large(size: int, limit: int, what: str) -> str:
    return f"too large ({binary_size(size)}; cnnlab reads at most {binary_size(limit)} of a {what})"
