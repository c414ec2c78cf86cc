"""What runs on the Ray workers: one run as a task (the same `run_job` as a worker process's), the
actor that carries the tasks' progress to the driver, and the probe that tells whether a node sees
the runs directory."""

from __future__ import annotations

import _thread
import contextlib
import os
import platform
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnnlab import __version__
from cnnlab.errors import Interrupted
from cnnlab.run.jobs import Job, run_job
from cnnlab.run.outcome import Outcome
from cnnlab.run.ray_backend.ship import pack
from cnnlab.run.signals import STOP, handle_signals

WATCH_S = 0.5  # how often a task looks whether Ray marked it cancelled


class ProgressInbox:
    """A Ray actor that holds what the tasks tell the driver while they run (that they started, their
    progress) until the driver takes it. A task only sends (never waits on Ray inside a task: Ray
    lends a waiting task's CPUs to another, and more runs would train at once than asked for)."""

    def __init__(self) -> None:
        self.items: list[tuple] = []

    def put(self, item: tuple) -> None:
        self.items.append(item)

    def take(self) -> list[tuple]:
        items, self.items = self.items, []
        return items


def ray_task(job: Job, runs_dir: str | None, command: list[str], force: bool, cwd: str, inbox: Any) -> tuple:
    """One run on a Ray worker: (its Outcome, and when `runs_dir` is None (shipped) its run directory
    as data); its start and progress go to the `inbox` actor. Ray's cancel interrupts the worker's
    main thread as SIGINT would (a first time: stop after the step; a second: at once), which
    cnnlab's own handler turns into a true status."""
    inbox.put.remote(("started", job.index, None))

    def progress(event: Any) -> None:
        inbox.put.remote(("progress", job.index, event))

    with handle_signals(), STOP.deferred(), _working_directory(cwd), _cancel_watch():
        try:  # deferred: a stop that comes after the run has ended must not lose its outcome
            if runs_dir is not None:
                return run_job(job, Path(runs_dir), command, force, progress), None
            local = Path(tempfile.mkdtemp(prefix="cnnlab-ship-"))
            try:
                outcome = run_job(job, local, command, force, progress)
                return outcome, pack(outcome.path) if outcome.path else None
            finally:
                shutil.rmtree(local, ignore_errors=True)
        except Interrupted:
            return Outcome.not_started(), None


@contextlib.contextmanager
def _cancel_watch() -> Iterator[None]:
    """Ray's cancel is best effort: should its interrupt not reach the task (the task marked cancelled,
    no stop requested a moment later), a thread delivers it."""
    import ray

    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_S):
            if ray.get_runtime_context().is_canceled():
                if not done.wait(2 * WATCH_S) and STOP.requested() is None:
                    _thread.interrupt_main(signal.SIGINT)
                return

    thread = threading.Thread(target=watch, daemon=True, name="cnnlab-cancel-watch")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Where `cnnlab train` was started, when this node has it, so that relative paths in the spec
    (data.root) mean what they mean there; the worker's own directory again afterwards (Ray reuses
    workers)."""
    before = os.getcwd()
    moved = os.path.isdir(path)
    if moved:
        os.chdir(path)
    try:
        yield
    finally:
        if moved:
            os.chdir(before)


def probe(path: str, token: str) -> tuple[str, str, bool]:
    """On one node: its name, its cnnlab version, and whether it sees the probe file at `path`."""
    try:
        seen = Path(path).read_text(encoding="utf-8") == token
    except OSError:
        seen = False
    return platform.node(), __version__, seen
