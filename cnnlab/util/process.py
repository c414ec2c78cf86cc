"""Leaving a process at once."""

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
