"""Is a `running` run really running? A process that vanished (SIGKILL, a power loss, a crashed
machine) cannot write its own status, so readers judge from what meta.json says about it:

- on the machine that runs it (same host name): its pid must be alive (not tested on Windows);
- anywhere: its heartbeat, rewritten every HEARTBEAT_S seconds while it runs, must be recent
  (this also catches a pid reused by another process after a reboot).

A run that fails either test shows as `stale`.
"""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone

from cnnlab.rundir.records import RunMeta

HEARTBEAT_S = 30.0  # how often a running run rewrites its heartbeat
STALE_AFTER_S = 10 * HEARTBEAT_S  # a heartbeat older than this: the process is gone (or hung)
PIDS_CHECKED = sys.platform != "win32"  # os.kill(pid, 0) sends Ctrl-C on Windows: there the heartbeat alone tells


def now_iso() -> str:
    """The current time as meta.json writes it: ISO 8601 with the local offset."""
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (signal 0 checks without sending anything)."""
    if pid <= 0:  # 0 and negative numbers name process groups, not a process
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:
        return True  # someone else's process
    except (ProcessLookupError, OverflowError):
        return False
    return True


def seconds_since(iso: str | None, now: datetime | None = None) -> float | None:
    """Seconds since an ISO 8601 time of meta.json (a time without offset is local); None when there
    is none or it cannot be read."""
    if not iso:
        return None
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.astimezone()
    return ((now or datetime.now(timezone.utc)) - then).total_seconds()


def heartbeat_age(meta: RunMeta, now: datetime | None = None) -> float | None:
    """Seconds since the run's last heartbeat; None when it cannot be read."""
    return seconds_since(meta.heartbeat, now)


def observed_status(meta: RunMeta, now: datetime | None = None, host: str | None = None) -> str:
    """meta.status, except `stale` for a `running` run whose process is gone."""
    if meta.status != "running":
        return meta.status
    if PIDS_CHECKED and meta.host == (host or platform.node()) and not pid_alive(meta.pid):
        return "stale"
    age = heartbeat_age(meta, now)
    if age is not None and age > STALE_AFTER_S:
        return "stale"
    return "running"
