"""What a scheduler tells as a plan's runs start, progress and end: passed on to the reporter,
weighed by the stop policy, and counted for the tally the command ends with."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlab.run.outcome import NOT_STARTED, Outcome
from cnnlab.run.plan import Plan
from cnnlab.run.policy import StopPolicy

ORDER = ("completed", "skipped", "diverged", "failed", "interrupted")  # as the tally names them


@dataclass(frozen=True)
class Tally:
    """How the runs of a plan ended."""

    name: str  # their experiment's
    total: int  # the runs the command stands for
    counts: dict[str, int] = field(default_factory=dict)  # status → runs
    dirs: tuple[Path, ...] = ()  # the runs' directories in the plan's order: skipped ones and those it made

    @classmethod
    def of(cls, plan: Plan, outcomes: Mapping[int, Outcome]) -> Tally:
        """The tally of `plan` from the outcomes of its runs to train (by their index in `plan.todo`)."""
        counts = Counter(o.status for o in outcomes.values() if o.status != NOT_STARTED)
        counts["skipped"] += len(plan.skipped)
        trained = iter(outcomes.get(i) for i in range(len(plan.todo)))
        dirs = [run.completed if run.completed is not None else getattr(next(trained), "path", None)
                for run in plan.runs]
        return cls(plan.name, plan.total, {k: n for k, n in counts.items() if n}, tuple(d for d in dirs if d))

    @property
    def not_started(self) -> int:
        return self.total - sum(self.counts.values())

    def line(self) -> str:
        """`3 completed, 1 failed, 2 not started`."""
        ran = ", ".join(f"{self.counts[k]} {k}" for k in ORDER if self.counts.get(k)) or "none ran"
        return ran + (f", {self.not_started} {NOT_STARTED}" if self.not_started > 0 else "")

    def exit_code(self, signum: int | None) -> int:
        """128 + the signal that stopped cnnlab (130 SIGINT, 143 SIGTERM); 1 when a run failed or
        diverged; else 0."""
        if signum is not None:
            return 128 + signum
        return 1 if self.counts.get("failed") or self.counts.get("diverged") else 0


class Ledger:
    """One plan being run: the scheduler tells it of each run (by its index in `plan.todo`)."""

    def __init__(self, plan: Plan, policy: StopPolicy, reporter: Any) -> None:
        self.plan, self.policy, self.reporter = plan, policy, reporter
        self.outcomes: dict[int, Outcome] = {}

    def stopping(self) -> bool:
        return self.policy.stopping()

    def started(self, index: int) -> None:
        self.reporter.started(index)

    def progress(self, index: int, event: Any) -> None:
        self.reporter.progress(index, event)

    def finished(self, index: int, outcome: Outcome) -> bool:
        """Record how run `index` ended; whether that stops the runs still going (fail-fast)."""
        self.outcomes[index] = outcome
        self.reporter.finished(index, outcome)
        return self.policy.stop_after(outcome)

    def tally(self) -> Tally:
        return Tally.of(self.plan, self.outcomes)
