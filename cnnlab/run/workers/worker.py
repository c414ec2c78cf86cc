"""A worker process of `--jobs N`: it trains the jobs its parent sends, one after another, so it
imports torch once, not once per run (that import is most of a short run's cost). Each job is what a
run in the parent would be (cnnlab.run.jobs.run_job → execute_run).

Stopping is the parent's decision: a worker ignores SIGINT (a terminal's Ctrl-C reaches the whole
process group) and dies with its parent; SIGTERM from the parent stops its run after the current
step (interrupted, last.pt written), and the worker reports it and leaves.

Messages to the parent: ("progress", RunProgress) a few times an epoch, then ("result", Outcome).
"""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection
from pathlib import Path

from cnnlab.errors import Interrupted
from cnnlab.run.jobs import Job, run_job
from cnnlab.run.outcome import Outcome
from cnnlab.run.signals import STOP, die_with_parent, handle_signals, unblock_signals
from cnnlab.util.process import exit_now


def worker_main(runs_dir: str, command: list[str], force: bool, parent: int, channel: Connection) -> None:
    """Run the jobs that come through `channel`; leave on None, when the parent is gone, or after a
    run a signal stopped."""

    def send(message: tuple) -> None:
        with contextlib.suppress(OSError):  # the parent may be gone
            channel.send(message)

    with handle_signals(ignore_sigint=True):
        try:
            unblock_signals()  # blocked by the parent until the handlers were in place
            die_with_parent(parent)
            while STOP.requested() is None and (job := _next_job(channel)) is not None:
                try:
                    outcome = run_job(job, Path(runs_dir), command, force, lambda event: send(("progress", event)))
                except Interrupted:
                    outcome = Outcome.not_started()
                send(("result", outcome))
        except Interrupted:  # stopped while waiting for a job: nothing to report
            pass
    exit_now(0)  # the parent waits for its workers to end: not for the seconds of torch's teardown


def _next_job(channel: Connection) -> Job | None:
    try:
        return channel.recv()
    except (EOFError, OSError):
        return None
