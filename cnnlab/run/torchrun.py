"""`torchrun --nproc-per-node N -m cnnlab train EXP.yaml`: every run across the N processes (and the
nodes torchrun's rendezvous flags join), one run after the other.

torchrun starts N copies of `cnnlab train` with RANK, WORLD_SIZE and LOCAL_RANK set. They join one
process group (cnnlab.train.distributed); rank 0 then does what a single `cnnlab train` does before
training (validate, pre-flight, skip what is done, find what to resume, print) and sends the list of
runs to the others, which print nothing and write nothing. Each run is trained by all of them together
(cnnlab.run.execute), and every process ends with rank 0's exit status.

Stopping is agreed: torchrun passes a Ctrl-C (SIGINT) or SIGTERM on to every process, and the
processes stop together at the next point where they compare notes (every few steps, between runs),
rank 0 writing last.pt and marking the run `interrupted`. A failure on any process fails the run,
naming the rank, and ends the job: the others cannot go on without it.

Torch-free until the processes join: `size()` only reads the environment.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console

from cnnlab.errors import CnnlabError, Interrupted
from cnnlab.run.signals import STOP


def size() -> int:
    """How many processes torchrun started for this job (1 when it did not start this one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank among them (0 without torchrun)."""
    return int(os.environ.get("RANK", "0"))


def run_across_processes(console: Console, tally: Any, decide: Callable[[], Any], force: bool,
                         command: list[str]) -> None:
    """Join the other processes, let rank 0 `decide()` the runs (spec, runs directory, what to skip or
    resume), and train them one by one, all processes together."""
    from cnnlab.run.execute import failure_reason
    from cnnlab.run.launch import run_in_turn
    from cnnlab.train.distributed import World

    with STOP.deferred():  # every stop is agreed, at the same point on every process
        world = World.join()
        failed = False
        try:
            tally.total, tally.name, runs_dir, todo = world.share(lambda: _plan(decide(), tally))
            world.check(lambda: [world.device(run.train.device) for run, _ in todo])  # before any run
            if todo:
                run_in_turn(console, todo, Path(runs_dir), True, force, tally, command, world)
            failed = tally.counts.get("failed", 0) > 0
            if not failed and (signum := world.agree_stop(STOP.requested())) is not None:
                STOP.adopt(signum)  # a signal after the last run: every process exits with its status
        except (Interrupted, CnnlabError):  # the same on every process
            raise
        except BaseException as err:  # this process alone: the others must hear of it, or they would wait
            failed = True
            world.fail(failure_reason(err))
            raise
        finally:
            if not failed:  # after a failure the other processes are gone or going
                with contextlib.suppress(Exception):
                    world.leave()


def _plan(decided: Any, tally: Any) -> tuple[int, str, str, list]:
    """What every process needs to know of rank 0's decision: how many runs the command stands for and
    their experiment, where they go, and each run to train with the run directory it resumes (the
    specs are sent whole)."""
    _, todo, runs_dir = decided
    return tally.total, tally.name, str(runs_dir), todo
