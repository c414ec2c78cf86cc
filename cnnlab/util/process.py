"""The process and the machine it runs on: the CPUs it may use, leaving at once."""

from __future__ import annotations

import os
import sys


def exit_now(code: int) -> None:
    """Exit with `code` after flushing what was printed, without Python's teardown: once torch is
    loaded that takes seconds, with nothing left to do (every file cnnlab writes is synced as it is
    written, and its threads and child processes have ended)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity on Linux; elsewhere all of them)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
