"""One plan trained: its runs directory prepared, the plan told, its runs handed to the scheduler
with the stop policy and a reporter. `cnnlab train` trains one plan; `--until-decided` one a round."""

from __future__ import annotations

import tempfile
from pathlib import Path

from rich.console import Console

from cnnlab.errors import CnnlabError
from cnnlab.run.existing import write_sweep_record
from cnnlab.run.ledger import Tally
from cnnlab.run.plan import Plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.report import make_reporter, print_plan
from cnnlab.run.scheduler import Scheduler


def prepare(console: Console, plan: Plan) -> Plan:
    """The runs directory ready for the plan's runs, sweep.yaml written, and the plan told."""
    if plan.total:
        if plan.experiment is not None:
            check_runs_dir(plan.runs_dir)
        if plan.record is not None:
            write_sweep_record(plan.record, plan.runs_dir)
    print_plan(console, plan)
    return plan


def train_plan(console: Console, scheduler: Scheduler, plan: Plan, policy: StopPolicy,
               round_label: str | None = None) -> Tally:
    """The plan's runs through the scheduler; what was skipped counts too."""
    if not plan.todo:
        return Tally.of(plan, {})
    reporter = make_reporter(console, plan, scheduler.in_process(plan), round_label)
    return scheduler.run(plan, policy, reporter)


def check_runs_dir(runs_dir: Path) -> None:
    """The runs directory exists (or can be made) and accepts files."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir):
            pass
    except OSError as err:
        raise CnnlabError(f"--runs-dir {runs_dir}: not writable ({err.strerror}); choose another directory") from None
