"""Many runs at once: each in its own process (spawned, so no torch state is shared) with an equal
share of the CPU threads, or its own GPU when several are visible."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from cnnlab.rundir.records import RunSummary, Status
from cnnlab.spec import Spec


@dataclass(frozen=True)
class Job:
    index: int
    resolved: dict[str, Any]
    swept: dict[str, Any]
    threads: int | None
    device: str | None


def plan_jobs(runs: list[Spec], jobs: int, cpu_count: int, gpu_count: int) -> list[Job]:
    """Each job's thread share (unless the spec fixes it) and, with several GPUs, its GPU."""
    share = max(1, cpu_count // jobs)
    out = []
    for i, run in enumerate(runs):
        device = None
        if gpu_count > 1 and run.train.device == "auto":
            device = f"cuda:{i % gpu_count}"
        out.append(Job(i, run.resolved(), dict(run.swept), run.train.threads or share, device))
    return out


@dataclass(frozen=True)
class Finished:
    index: int
    status: Status
    path: Path | None
    summary: RunSummary | None
    error: str | None


def _worker(job: Job, runs_dir: str, command: list[str], result: Connection) -> None:
    """Run one job in a child process; send (status, path, summary, error) back once."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate → KeyboardInterrupt → interrupted
    from cnnlab.run.execute import execute_run
    from cnnlab.train.progress import LogReporter

    spec = Spec.model_validate(job.resolved)
    spec._swept = job.swept
    try:
        outcome = execute_run(spec, Path(runs_dir), LogReporter, command, threads=job.threads, device=job.device)
        result.send((outcome.status, str(outcome.path), outcome.summary, outcome.error))
    except KeyboardInterrupt:
        result.send(("interrupted", None, None, "interrupted"))
    except Exception as err:  # the run directory could not even be made
        result.send(("failed", None, None, str(err).splitlines()[0] if str(err) else repr(err)))


def _finished(index: int, proc: Any, result: Connection) -> Finished:
    """How a worker ended: what it sent, or, when it died without a word (OOM kill, segfault), its exit code."""
    try:
        status, path, summary, error = result.recv()
    except (EOFError, OSError):
        proc.join()
        return Finished(index, "failed", None, None, f"worker exited with code {proc.exitcode}")
    proc.join()
    return Finished(index, status, Path(path) if path else None, summary, error)


def run_parallel(jobs: list[Job], n: int, runs_dir: Path, command: list[str],
                 stop: Callable[[Finished], bool]) -> Iterator[Finished]:
    """Run `jobs` at most `n` at a time, yielding each as it finishes, however it finishes. When
    `stop(finished)` is true (fail-fast) or on KeyboardInterrupt, running jobs are interrupted and no
    new ones start."""
    ctx = mp.get_context("spawn")
    pending = list(jobs)
    running: dict[int, tuple[Any, Connection]] = {}
    stopping = False
    try:
        while pending or running:
            while pending and len(running) < n and not stopping:
                job = pending.pop(0)
                receive, send = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(job, str(runs_dir), command, send))
                proc.start()
                send.close()  # the child holds the only writing end: EOF when it dies
                running[job.index] = (proc, receive)
            ready = set(wait([w for proc, receive in running.values() for w in (proc.sentinel, receive)]))
            for index, (proc, receive) in list(running.items()):
                if proc.sentinel in ready or receive in ready:
                    del running[index]
                    finished = _finished(index, proc, receive)
                    yield finished
                    if stop(finished) and not stopping:
                        stopping, pending = True, []  # interrupted runs still report; unstarted ones never start
                        _interrupt(running)
    except KeyboardInterrupt:
        _interrupt(running)
        _drain(running)
        raise


def _interrupt(running: dict[int, tuple[Any, Connection]]) -> None:
    for proc, _ in running.values():
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)


def _drain(running: dict[int, tuple[Any, Connection]]) -> None:
    """Wait for interrupted workers to mark their runs and exit."""
    for proc, _ in running.values():
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
