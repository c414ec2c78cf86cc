"""What `cnnlab train` and cnnlab.train() do: plan (cnnlab.run.plan), prepare the runs directory, hand
the plan to its scheduler with the stop policy and the reporter (cnnlab.run.rounds), and end with the
tally (and, for the command, the exit status); with `--until-decided`, that in rounds
(cnnlab.run.until_decided).

    TrainRequest → plan → Plan → prepare → Scheduler.run(plan, StopPolicy, reporter) → Tally → exit status
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console

from cnnlab.errors import Interrupted, RemoteError, UsageError
from cnnlab.run import torchrun
from cnnlab.run.dry_run import print_dry_run
from cnnlab.run.ledger import Tally
from cnnlab.run.local import Local
from cnnlab.run.plan import plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.report import print_plan, print_tally
from cnnlab.run.request import TrainRequest
from cnnlab.run.rounds import prepare, train_plan
from cnnlab.run.scheduler import Scheduler
from cnnlab.run.signals import STOP, handle_signals
from cnnlab.run.until_decided import UntilDecided
from cnnlab.train.threads import configure_threads
from cnnlab.util.terminal import make_console


def _ray(request: TrainRequest) -> Scheduler:
    from cnnlab.run.ray_backend.scheduler import RayScheduler

    return RayScheduler(request.ray)


SCHEDULERS: dict[str, Callable[[TrainRequest], Scheduler]] = {  # --backend
    "local": lambda request: Local(request.jobs),
    "ray": _ray,
}


def choose_scheduler(request: TrainRequest) -> Scheduler:
    """The request's backend; under torchrun, the processes torchrun started."""
    if torchrun.size() == 1:
        return SCHEDULERS[request.backend](request)
    if request.ray is not None:
        raise UsageError("--backend ray does not apply under torchrun, which trains one run on all its processes")
    if request.jobs > 1:
        raise UsageError("--jobs: under torchrun every run is trained by all the processes together, one run "
                         "after the other; leave --jobs out")
    from cnnlab.run.torchrun.scheduler import TorchrunScheduler  # torch: the processes join a process group

    return TorchrunScheduler()


@dataclass(frozen=True)
class Trained:
    """How a request ended: the tally of its runs (None for a dry run, or one stopped before any run
    began) and the signal that stopped it, if one did."""

    tally: Tally | None
    signum: int | None

    @property
    def exit_code(self) -> int:
        """0 all completed, 1 a run failed or diverged, 128 + the signal number when one stopped it."""
        if self.tally is None:
            return 0 if self.signum is None else 128 + self.signum
        return self.tally.exit_code(self.signum)


def launch(request: TrainRequest) -> int:
    """Run `cnnlab train`; the exit status (0 all completed, 1 a run failed or diverged, 2 a mistake,
    128 + the signal number when SIGINT or SIGTERM stopped it). Under torchrun only rank 0 prints."""
    console = make_console()
    console.quiet = torchrun.rank() != 0
    try:
        return train_request(console, request).exit_code
    except RemoteError:  # rank 0's mistake, which rank 0 prints
        return 2


def train_request(console: Console, request: TrainRequest) -> Trained:
    """Plan the request and train the plan (in rounds, with --until-decided), SIGINT and SIGTERM
    stopping it with every run's status true: what `cnnlab train` and cnnlab.train() both do. A
    mistake is a CnnlabError, before any run directory exists whenever the request shows it."""
    configure_threads()  # before torch loads, here and in the workers it starts
    with handle_signals():
        tally = None
        try:
            tally = _train(console, request)
        except Interrupted as stop:  # outside any run (each run records its own interruption)
            console.print(f"interrupted by {signal.Signals(stop.signum).name}")
        return Trained(tally, STOP.requested())


def _train(console: Console, request: TrainRequest) -> Tally | None:
    if request.dry_run:
        planned = plan(request)
        print_plan(console, planned, what_happens=False)  # the dry run's table says it, run by run
        print_dry_run(console, planned)
        return None
    with choose_scheduler(request) as scheduler:
        if request.until_decided:
            return UntilDecided(console, request, scheduler).run()
        planned = scheduler.agree(lambda: prepare(console, plan(request)))
        tally = train_plan(console, scheduler, planned, StopPolicy(request.fail_fast))
    print_tally(console, planned, tally)
    return tally
