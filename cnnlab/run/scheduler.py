"""The one interface every way of running a plan implements.

A scheduler runs a Plan's runs, each through the one `execute_run` (cnnlab.run.execute), asks the
one StopPolicy (cnnlab.run.policy) when to stop, tells one reporter (the board) of every run, and
returns the Tally. As a context manager it holds what it needs for the whole command (torchrun:
the process group); `agree` makes the plan where the scheduler needs it made (torchrun: on rank 0,
for every process).

    in this process, one run after another     cnnlab.run.in_process.InProcess
    --jobs N: N worker processes                cnnlab.run.workers.pool.WorkerPool
    --backend ray: every run a Ray task         cnnlab.run.ray_backend.scheduler.RayScheduler
    under torchrun: every run on all processes  cnnlab.run.torchrun.scheduler.TorchrunScheduler
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cnnlab.run.ledger import Tally
from cnnlab.run.plan import Plan
from cnnlab.run.policy import StopPolicy


class Scheduler:
    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def in_process(self, plan: Plan) -> bool:
        """Whether the plan's runs train in this process (their trainers report straight to the reporter)."""
        return True

    def agree(self, decide: Callable[[], Plan]) -> Plan:
        """The plan every process of the command works from: `decide()`'s."""
        return decide()

    def run(self, plan: Plan, policy: StopPolicy, reporter: Any) -> Tally:
        raise NotImplementedError

