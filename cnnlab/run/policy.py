"""When the runs of a plan stop, decided in one place for every scheduler (in this process, worker
processes, Ray, torchrun).

A first SIGINT or SIGTERM stops the plan: no run starts any more, and the running ones are
interrupted after their current step (each scheduler interrupts them its own way; each run records
`interrupted` itself). With fail-fast, the first failed run does the same. A second signal stops at
once (cnnlab.run.signals). Under torchrun a signal counts once the processes agreed on it, so that
all of them stop before the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cnnlab.run.outcome import Outcome
from cnnlab.run.signals import STOP


@dataclass
class StopPolicy:
    fail_fast: bool = False  # the first failed run stops the plan
    signal: Callable[[], int | None] = field(default=STOP.requested)  # the stop request, if one came
    failed_fast: bool = False  # a failure stopped the plan (with fail_fast)

    def stopping(self) -> bool:
        """Whether the plan stops: no run may start, running ones are being interrupted."""
        return self.failed_fast or self.signal() is not None

    def stop_after(self, outcome: Outcome) -> bool:
        """Whether this run's ending stops the runs still going, now (the first failure, with fail_fast)."""
        if self.fail_fast and outcome.status == "failed" and not self.failed_fast:
            self.failed_fast = True
            return True
        return False

    def with_signal(self, signal: Callable[[], int | None], fail_fast: bool | None = None) -> StopPolicy:
        """The same policy asking `signal` whether to stop (torchrun: the processes' agreed request)."""
        return replace(self, signal=signal, fail_fast=self.fail_fast if fail_fast is None else fail_fast)
