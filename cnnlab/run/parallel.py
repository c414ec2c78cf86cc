"""Many runs at once: each in its own process (spawned, so no torch state is shared) with an equal
share of the CPU threads, or its own GPU when several are visible. Each worker does what a
sequential run does (cnnlab.run.execute.execute_run); this module only starts, watches and stops them.

Stopping is the parent's decision: workers ignore SIGINT (a terminal's Ctrl-C reaches the whole
process group) and die with their parent. On SIGINT or SIGTERM the parent starts no more runs and
sends SIGTERM to the running workers, which checkpoint, mark their runs interrupted and report; a
second signal kills them at once and marks their runs itself. A worker that dies without reporting
(killed for memory, a crash) has its run marked failed by the parent.

A worker sends its run's progress (cnnlab.train.progress.RunProgress, a few times an epoch) and then
its result through one pipe; the parent passes the progress on (to the sweep's board, cnnlab.run.board).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from cnnlab.errors import Interrupted
from cnnlab.run.signals import STOP, die_with_parent, handle_signals, signals_blocked, unblock_signals
from cnnlab.rundir.liveness import now_iso
from cnnlab.rundir.records import RecordError, RunMeta, RunSummary, read_json_record
from cnnlab.rundir.store import RunStore
from cnnlab.spec import Spec
from cnnlab.train.progress import RunProgress

POLL_S = 0.25  # how often the parent looks for a stop request while it waits for workers


@dataclass(frozen=True)
class Job:
    index: int
    resolved: dict[str, Any]
    identity: dict[str, Any]  # Spec.identity(): swept values and their labels, --set labels
    threads: int | None
    device: str | None
    resume: str | None = None  # a run directory to continue


def plan_jobs(runs: list[Spec], jobs: int, cpu_count: int, gpu_count: int,
              resume: dict[int, Path] | None = None) -> list[Job]:
    """Each job's thread share (unless the spec fixes it) and, with several GPUs, its GPU."""
    share = max(1, cpu_count // jobs)
    out = []
    for i, run in enumerate(runs):
        device = None
        if gpu_count > 1 and run.train.device == "auto":
            device = f"cuda:{i % gpu_count}"
        target = (resume or {}).get(i)
        out.append(Job(i, run.resolved(), run.identity(), run.train.threads or share, device,
                       str(target) if target else None))
    return out


@dataclass(frozen=True)
class Finished:
    index: int
    status: str  # an Outcome status, or "not started" (stopped before its run directory existed)
    path: Path | None
    summary: RunSummary | None
    error: str | None


NOT_STARTED = ("not started", None, None, "stopped before the run began")


def run_job(job: Job, runs_dir: Path, command: list[str], force: bool,
            on_progress: Callable[[RunProgress], None]) -> tuple:
    """What a worker does with its job, whatever started the worker (a process here, a Ray task):
    execute_run, its progress to `on_progress`, and its outcome as plain data (status, path, summary,
    error)."""
    try:
        from cnnlab.run.execute import execute_run
        from cnnlab.train.progress import EventReporter

        spec = Spec.model_validate(job.resolved).with_identity(job.identity)
        outcome = execute_run(spec, runs_dir, lambda store: EventReporter(store, on_progress), command,
                              threads=job.threads, device=job.device,
                              resume=Path(job.resume) if job.resume else None, force=force)
        return outcome.status, str(outcome.path) if outcome.path else None, outcome.summary, outcome.error
    except Interrupted:
        return NOT_STARTED
    except Exception as err:  # the run could not even be opened: a bug, reported like a failed run
        return "failed", None, None, str(err).splitlines()[0] if str(err) else repr(err)


def _worker(job: Job, runs_dir: str, command: list[str], force: bool, parent: int, result: Connection) -> None:
    """Run one job in a child process; send ("progress", RunProgress) while it trains, then
    ("result", (status, path, summary, error)) once."""

    def send(message: tuple) -> None:
        with contextlib.suppress(OSError):  # the parent may be gone
            result.send(message)

    with handle_signals(ignore_sigint=True):
        try:
            unblock_signals()  # blocked by the parent until the handlers were in place
            die_with_parent(parent)
            message = run_job(job, Path(runs_dir), command, force, lambda event: send(("progress", event)))
        except Interrupted:
            message = NOT_STARTED
        send(("result", message))


@dataclass
class Worker:
    job: Job
    proc: Any
    receive: Connection


def run_parallel(jobs: list[Job], n: int, runs_dir: Path, experiment: Path, command: list[str], force: bool,
                 on_finished: Callable[[Finished], bool], on_started: Callable[[int], None] = lambda index: None,
                 on_progress: Callable[[int, RunProgress], None] = lambda index, progress: None) -> None:
    """Run `jobs` at most `n` at a time; `on_started` hears of each job (by index) as it starts,
    `on_progress` of its progress, `on_finished` of each as it ends, however it ends, and returns True
    to stop the rest (fail-fast). A first SIGINT/SIGTERM stops them too (their runs end interrupted,
    with last.pt); STOP.requested() then says which signal."""
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    running: dict[int, Worker] = {}
    stopping = False

    def stop_all() -> None:
        nonlocal stopping
        stopping = True
        pending.clear()
        for worker in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGTERM)

    def kill_all(signum: int) -> None:
        for worker in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGKILL)
        for worker in running.values():
            worker.proc.join()
            mark_abandoned(experiment, worker.proc.pid, "interrupted",
                           f"stopped at once by a second {signal.Signals(signum).name}")

    with STOP.deferred(), STOP.on_emergency(kill_all):
        while pending or running:
            if STOP.requested() is not None and not stopping:
                stop_all()
            while pending and len(running) < n and not stopping:
                job = pending.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(job, str(runs_dir), command, force, os.getpid(), send))
                with signals_blocked():  # inherited: the worker is not stopped before its handlers are set
                    proc.start()
                    running[job.index] = Worker(job, proc, receive)
                send.close()  # the child holds the only writing end: EOF when it dies
                on_started(job.index)
            ready = set(wait([w for worker in running.values() for w in (worker.proc.sentinel, worker.receive)],
                             timeout=POLL_S))
            for index, worker in list(running.items()):
                if worker.proc.sentinel in ready or worker.receive in ready:
                    finished = _received(worker, experiment, on_progress)
                    if finished is None:  # progress only: it is still running
                        continue
                    del running[index]
                    if on_finished(finished) and not stopping:
                        stop_all()  # fail-fast: running runs are interrupted, unstarted ones never start


def _received(worker: Worker, experiment: Path, on_progress: Callable[[int, RunProgress], None]) -> Finished | None:
    """What a worker has sent so far: its progress (passed on), and how it ended once it has; or, when
    it died without a word, its exit code (its run, if it had one, is marked failed here). None while
    it runs."""
    index = worker.job.index
    try:
        while worker.receive.poll():
            kind, payload = worker.receive.recv()
            if kind == "progress":
                on_progress(index, payload)
                continue
            status, path, summary, error = payload
            worker.proc.join()
            return Finished(index, status, Path(path) if path else None, summary, error)
    except (EOFError, OSError):
        worker.proc.join()
        code = worker.proc.exitcode
        reason = (f"the worker process was killed by {signal.Signals(-code).name}" if code and code < 0
                  else f"the worker process exited with code {code}")
        path = mark_abandoned(experiment, worker.proc.pid, "failed", reason)
        return Finished(index, "failed", path, None, reason)
    return None


def mark_abandoned(experiment: Path, pid: int, status: str, reason: str) -> Path | None:
    """Mark the run that process `pid` (gone now) left `running` in `experiment`; its directory."""
    for meta_path in experiment.glob("*/meta.json"):
        try:
            meta = read_json_record(meta_path, RunMeta)
        except RecordError:
            continue
        if meta.status == "running" and meta.pid == pid:
            store = RunStore(meta_path.parent)
            store.remove_temp_files()
            hint = f"; continue it with: cnnlab train --resume {store.path}" if status == "interrupted" else ""
            with contextlib.suppress(OSError, RecordError):
                store.update_meta(status=status, ended=now_iso(), error=reason + hint)
            return store.path
    return None
