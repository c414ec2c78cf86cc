"""The runs of a plan one after the other in this process: a single run, a sweep without --jobs,
and (through cnnlab.run.torchrun.scheduler) every run under torchrun."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnnlab.run.board import shown_path
from cnnlab.run.execute import execute_run
from cnnlab.run.ledger import Ledger, Tally
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import Plan, PlannedRun
from cnnlab.run.policy import StopPolicy
from cnnlab.run.scheduler import Scheduler
from cnnlab.run.signals import STOP
from cnnlab.util.text import plural

# How one planned run trains here: (the run, its plan, what its trainer reports through) → its outcome.
Executor = Callable[[PlannedRun, Plan, Callable[[Any], Any]], Outcome]


def execute_planned(planned: PlannedRun, plan: Plan, make_reporter: Callable[[Any], Any]) -> Outcome:
    return execute_run(planned.run, plan.runs_dir, make_reporter, command=plan.command, resume=planned.resume,
                       force=plan.force)


class InProcess(Scheduler):
    def __init__(self, execute: Executor = execute_planned) -> None:
        self.execute = execute

    def run(self, plan: Plan, policy: StopPolicy, reporter: Any) -> Tally:
        ledger = Ledger(plan, policy, reporter)
        todo = plan.todo
        description = f"{plural(len(todo), 'run')} one at a time into {shown_path(plan.folder)}/"
        with STOP.deferred(), reporter.begin(description, 1):  # between runs a signal is noted, not raised
            for i, planned in enumerate(todo):
                if ledger.stopping():
                    break
                ledger.started(i)
                outcome = self.execute(planned, plan, reporter.for_run(i, planned.run.spec.train.epochs))
                if ledger.finished(i, outcome):
                    break
        return ledger.tally()
