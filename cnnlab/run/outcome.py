"""How one run ended, as every scheduler reports it (plain data: it crosses process boundaries)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnlab.rundir.records import RunSummary

NOT_STARTED = "not started"  # stopped before its run directory existed: no status of its own, not counted


@dataclass(frozen=True)
class Outcome:
    status: str  # completed | failed | interrupted | diverged | skipped | not started
    path: Path | None  # its run directory; None when none was made (skipped, not started, or it could not be)
    summary: RunSummary | None = None  # for a run that completed or diverged
    error: str | None = None  # why it failed, was interrupted or skipped

    @classmethod
    def not_started(cls) -> Outcome:
        return cls(NOT_STARTED, None, None, "stopped before the run began")
