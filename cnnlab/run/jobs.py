"""A planned run as another process trains it (a worker process, a Ray task): the run with its share
of the machine, and what that process does with it, the same `execute_run` as in this process."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from cnnlab.errors import Interrupted
from cnnlab.run.execute import execute_run
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import PlannedRun
from cnnlab.spec import RunSpec
from cnnlab.train.progress import EventReporter


@dataclass(frozen=True)
class Job:
    index: int  # the run's place in the plan's runs to train
    run: RunSpec
    threads: int | None  # torch's CPU threads there (None: the spec's, else torch's default)
    device: str | None  # the device there, where it is not the spec's (the recorded spec keeps its own)
    resume: Path | None = None  # a run directory to continue


def plan_jobs(todo: Sequence[PlannedRun], jobs: int, cpu_count: int) -> list[Job]:
    """The jobs of `jobs` worker processes sharing this machine: each an equal share of the CPU
    threads (unless the spec fixes them); its GPU is its worker's (`slot_device`)."""
    share = max(1, cpu_count // jobs)
    return [Job(i, planned.run, planned.run.spec.train.threads or share, None, planned.resume)
            for i, planned in enumerate(todo)]


def slot_device(job: Job, slot: int, gpu_count: int) -> Job:
    """The job as worker `slot` runs it: with several GPUs, a run whose spec says `device: auto` goes
    to the worker's own GPU, so that the workers spread over the GPUs and each process uses one."""
    if gpu_count > 1 and job.device is None and job.run.spec.train.device == "auto":
        return replace(job, device=f"cuda:{slot % gpu_count}")
    return job


def run_job(job: Job, runs_dir: Path, command: Sequence[str], force: bool,
            on_progress: Callable[[object], None]) -> Outcome:
    """What a worker does with its job, whatever started the worker: execute_run, its progress
    (cnnlab.train.progress.RunProgress) to `on_progress`, and its outcome."""
    try:
        return execute_run(job.run, runs_dir, lambda store: EventReporter(store, on_progress), command,
                           threads=job.threads, device=job.device, resume=job.resume, force=force)
    except Interrupted:
        return Outcome.not_started()
    except Exception as err:  # the run could not even be opened: a bug, reported like a failed run
        return Outcome("failed", None, None, str(err).splitlines()[0] if str(err) else repr(err))
