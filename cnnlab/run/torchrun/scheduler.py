"""The scheduler under torchrun: every run of the plan on all the processes together, one after the
other, through the in-process loop every rank runs alike (cnnlab.run.in_process): rank 0 trains and
writes through `execute_run`, the others follow (cnnlab.run.torchrun.follower). A stop is agreed
before each run; a failed run ends the job, since its processes cannot go on without the one that
failed."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from cnnlab.errors import CnnlabError, Interrupted
from cnnlab.run.ending import failure_reason
from cnnlab.run.execute import execute_run
from cnnlab.run.in_process import InProcess
from cnnlab.run.ledger import Tally
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import Plan, PlannedRun
from cnnlab.run.policy import StopPolicy
from cnnlab.run.scheduler import Scheduler
from cnnlab.run.signals import STOP
from cnnlab.run.torchrun.follower import follow_run
from cnnlab.run.torchrun.protocol import TorchrunProtocol


class TorchrunScheduler(Scheduler):
    def __init__(self) -> None:
        self.protocol: TorchrunProtocol | None = None
        self.failed = False  # a run or this process failed: the others are gone or going
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> TorchrunScheduler:
        self._stack.enter_context(STOP.deferred())  # every stop is agreed, at the same point on every process
        self.protocol = TorchrunProtocol.join()
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, trace: object) -> None:
        try:
            if error is not None and not isinstance(error, (Interrupted, CnnlabError)):
                self.failed = True  # this process alone: the others must hear of it, or they would wait
                self.protocol.failed(failure_reason(error))
            if not self.failed:
                with contextlib.suppress(Exception):
                    self.protocol.leave()
        finally:
            self._stack.close()

    def agree(self, decide: Callable[[], Plan]) -> Plan:
        return self.protocol.share(decide)

    def run(self, plan: Plan, policy: StopPolicy, reporter: Any) -> Tally:
        self.protocol.check_devices([planned.run.spec.train.device for planned in plan.todo])  # before any run
        agreed = policy.with_signal(self.protocol.agree_stop, fail_fast=True)
        tally = InProcess(self.execute).run(plan, agreed, reporter)
        self.failed = bool(tally.counts.get("failed"))
        if not self.failed:
            self.protocol.agree_stop()  # a signal after the last run: every process exits with its status
        return tally

    def execute(self, planned: PlannedRun, plan: Plan, make_reporter: Callable[[Any], Any]) -> Outcome:
        if not self.protocol.is_main:
            return follow_run(planned, self.protocol)
        return execute_run(planned.run, plan.runs_dir, make_reporter, command=plan.command, resume=planned.resume,
                           force=plan.force, peers=self.protocol)
