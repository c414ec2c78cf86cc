"""`--backend local` (the default): the runs on this machine, `--jobs` at a time: in this process
one after another, or in worker processes when several are to run at once."""

from __future__ import annotations

from typing import Any

from cnnlab.run.in_process import InProcess
from cnnlab.run.ledger import Tally
from cnnlab.run.plan import Plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.scheduler import Scheduler
from cnnlab.run.workers.pool import WorkerPool


class Local(Scheduler):
    def __init__(self, jobs: int = 1) -> None:
        self.jobs = jobs

    def chosen(self, plan: Plan) -> Scheduler:
        return WorkerPool(self.jobs) if self.jobs > 1 and len(plan.todo) > 1 else InProcess()

    def in_process(self, plan: Plan) -> bool:
        return self.chosen(plan).in_process(plan)

    def run(self, plan: Plan, policy: StopPolicy, reporter: Any) -> Tally:
        if plan.device not in ("auto", "cpu"):  # a device that may not exist: one line now, before any run
            from cnnlab.train.device import resolve_device

            resolve_device(plan.device)
        return self.chosen(plan).run(plan, policy, reporter)
