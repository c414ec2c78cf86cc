"""Many runs at once: at most N worker processes (spawned, so no torch state is shared with the
parent), each with an equal share of the CPU threads, or its own GPU when several are visible. A
worker trains one run after another, as the parent hands them out, so it imports torch once, not
once per run (that import is most of a short run's cost). Each run in a worker is what a sequential
run is (cnnlab.run.execute.execute_run, which seeds and configures everything a run depends on);
this module only starts, feeds, watches and stops the workers.

Stopping is the parent's decision: workers ignore SIGINT (a terminal's Ctrl-C reaches the whole
process group) and die with their parent. On SIGINT or SIGTERM the parent starts no more runs and
sends SIGTERM to the busy workers, which checkpoint, mark their runs interrupted, report and exit; a
second signal kills them at once and marks their runs itself. A worker that dies without reporting
(killed for memory, a crash) has its run marked failed by the parent, and a new worker takes its place.

A worker gets jobs through its pipe and sends back its run's progress (cnnlab.train.progress.RunProgress,
a few times an epoch) and then its result; the parent passes the progress on (to the sweep's board,
cnnlab.run.board).
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, replace
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


def plan_jobs(runs: list[Spec], jobs: int, cpu_count: int, resume: dict[int, Path] | None = None) -> list[Job]:
    """Each job's thread share (unless the spec fixes it); its GPU is its worker's (`run_parallel`)."""
    share = max(1, cpu_count // jobs)
    out = []
    for i, run in enumerate(runs):
        target = (resume or {}).get(i)
        out.append(Job(i, run.resolved(), run.identity(), run.train.threads or share, None,
                       str(target) if target else None))
    return out


def slot_device(job: Job, slot: int, gpu_count: int) -> Job:
    """The job as worker `slot` runs it: with several GPUs, a run whose spec says `device: auto` goes
    to the worker's own GPU, so that the workers spread over the GPUs and each process uses one."""
    if gpu_count > 1 and job.device is None and job.resolved["train"]["device"] == "auto":
        return replace(job, device=f"cuda:{slot % gpu_count}")
    return job


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


def _worker(runs_dir: str, command: list[str], force: bool, parent: int, channel: Connection) -> None:
    """A worker process: run the jobs that come through `channel` one after the other, sending
    ("progress", RunProgress) while each trains and then ("result", (status, path, summary, error));
    leave on None, when the parent is gone, or after a run a signal stopped."""

    def send(message: tuple) -> None:
        with contextlib.suppress(OSError):  # the parent may be gone
            channel.send(message)

    with handle_signals(ignore_sigint=True):
        try:
            unblock_signals()  # blocked by the parent until the handlers were in place
            die_with_parent(parent)
            while STOP.requested() is None and (job := _next_job(channel)) is not None:
                try:
                    message = run_job(job, Path(runs_dir), command, force, lambda event: send(("progress", event)))
                except Interrupted:
                    message = NOT_STARTED
                send(("result", message))
        except Interrupted:  # stopped while waiting for a job: nothing to report
            pass


def _next_job(channel: Connection) -> Job | None:
    try:
        return channel.recv()
    except (EOFError, OSError):
        return None


@dataclass
class Worker:
    slot: int  # its place among the N (its GPU when there are several)
    proc: Any
    channel: Connection  # jobs go out, progress and results come back
    job: Job | None = None  # the job it is running; None while it waits for one


def run_parallel(jobs: list[Job], n: int, runs_dir: Path, experiment: Path, command: list[str], force: bool,
                 on_finished: Callable[[Finished], bool], on_started: Callable[[int], None] = lambda index: None,
                 on_progress: Callable[[int, RunProgress], None] = lambda index, progress: None,
                 gpu_count: int = 0) -> None:
    """Run `jobs` at most `n` at a time in at most `n` worker processes; `on_started` hears of each
    job (by index) as it starts, `on_progress` of its progress, `on_finished` of each as it ends,
    however it ends, and returns True to stop the rest (fail-fast). A first SIGINT/SIGTERM stops them
    too (their runs end interrupted, with last.pt); STOP.requested() then says which signal."""
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    workers: list[Worker] = []
    stopping = False

    def busy() -> list[Worker]:
        return [worker for worker in workers if worker.job is not None]

    def stop_all() -> None:
        nonlocal stopping
        stopping = True
        pending.clear()
        for worker in busy():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGTERM)

    def kill_all(signum: int) -> None:
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGKILL)
        for worker in workers:
            worker.proc.join()
        for worker in busy():
            mark_abandoned(experiment, worker.proc.pid, "interrupted",
                           f"stopped at once by a second {signal.Signals(signum).name}")

    def start_worker() -> Worker:
        slot = min(set(range(n)) - {worker.slot for worker in workers})
        mine, theirs = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(str(runs_dir), command, force, os.getpid(), theirs))
        with signals_blocked():  # inherited: the worker is not stopped before its handlers are set
            proc.start()
        theirs.close()  # the child holds the only other end: EOF when it dies
        workers.append(Worker(slot, proc, mine))
        return workers[-1]

    def hand_out() -> None:
        while pending and not stopping and STOP.requested() is None:
            idle = next((worker for worker in workers if worker.job is None), None)
            if idle is None:
                if len(workers) == n:
                    return
                idle = start_worker()
            job = slot_device(pending[0], idle.slot, gpu_count)
            try:
                idle.channel.send(job)
            except OSError:  # it died while it waited: the next round notices and replaces it
                forget(idle)
                continue
            pending.pop(0)
            idle.job = job
            on_started(job.index)

    def forget(worker: Worker) -> None:
        worker.proc.join()
        workers.remove(worker)

    with STOP.deferred(), STOP.on_emergency(kill_all):
        try:
            while pending or busy():
                if STOP.requested() is not None and not stopping:
                    stop_all()
                hand_out()
                ready = set(wait([end for worker in workers for end in (worker.proc.sentinel, worker.channel)],
                                 timeout=POLL_S))
                for worker in list(workers):
                    if worker.proc.sentinel in ready or worker.channel in ready:
                        finished = _received(worker, experiment, on_progress)
                        if worker.proc.exitcode is not None:
                            forget(worker)
                        if finished is not None and on_finished(finished) and not stopping:
                            stop_all()  # fail-fast: running runs are interrupted, unstarted ones never start
        finally:
            for worker in workers:  # idle now (or, on an error here, told to stop): each leaves
                with contextlib.suppress(OSError):
                    worker.channel.send(None)
                if worker.job is not None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(worker.proc.pid, signal.SIGTERM)
            for worker in workers:
                worker.proc.join()


def _received(worker: Worker, experiment: Path, on_progress: Callable[[int, RunProgress], None]) -> Finished | None:
    """What a worker has sent so far: its run's progress (passed on), and how the run ended once it
    has (the worker is idle again); or, when it died, its exit code (its run, if it had one, is marked
    failed here). None while its run goes on, or when an idle worker left."""
    try:
        while worker.channel.poll():
            kind, payload = worker.channel.recv()
            if kind == "progress":
                if worker.job is not None:
                    on_progress(worker.job.index, payload)
                continue
            status, path, summary, error = payload
            index, worker.job = worker.job.index, None
            return Finished(index, status, Path(path) if path else None, summary, error)
    except (EOFError, OSError):
        worker.proc.join()
        if worker.job is None:  # it left while idle (told to, or a signal): nothing was lost
            return None
        code = worker.proc.exitcode
        reason = (f"the worker process was killed by {signal.Signals(-code).name}" if code and code < 0
                  else f"the worker process exited with code {code}")
        path = mark_abandoned(experiment, worker.proc.pid, "failed", reason)
        index, worker.job = worker.job.index, None
        if code == 0 and path is None:  # a signal made it leave before it took the job
            return Finished(index, *NOT_STARTED)
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
