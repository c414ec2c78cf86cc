"""Many runs of one experiment: skip what is done, run the rest one at a time or in parallel.

A run is "done" when a directory of the same experiment holds the same resolved spec with status
completed; failed, interrupted and diverged runs are run again (into a new directory, the old one is
kept). With `jobs > 1` every run gets its own process (spawned, so no torch state is shared) and
an equal share of the CPU threads, or its own GPU when several are visible.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import queue
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cnnlab.spec import Spec
from cnnlab.yamlio import dump_yaml

SWEEP_FILE = "sweep.yaml"


def completed_specs(experiment_dir: Path) -> dict[str, Path]:
    """Resolved spec (as canonical JSON) → run directory, for every completed run of an experiment."""
    done: dict[str, Path] = {}
    for meta_path in sorted(experiment_dir.glob("*/meta.json")):
        try:
            if json.loads(meta_path.read_text())["status"] != "completed":
                continue
            spec = yaml.safe_load((meta_path.parent / "spec.yaml").read_text())
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
            continue  # unreadable or partial: not done
        done[canonical(spec)] = meta_path.parent
    return done


def canonical(resolved: dict[str, Any]) -> str:
    return json.dumps(resolved, sort_keys=True)


def split_done(runs: list[Spec], runs_dir: Path, force: bool) -> tuple[list[Spec], list[tuple[Spec, Path]]]:
    """(runs to do, [(skipped run, its completed directory)])."""
    if force or not runs:
        return runs, []
    done = completed_specs(Path(runs_dir) / runs[0].name)
    todo, skipped = [], []
    for run in runs:
        found = done.get(canonical(run.resolved()))
        if found is None:
            todo.append(run)
        else:
            skipped.append((run, found))
    return todo, skipped


def write_sweep_record(spec: Spec, runs_dir: Path) -> Path:
    """runs/<name>/sweep.yaml: the experiment as written (with --set applied), so that `compare` can
    show the sweep as a unit."""
    from cnnlab.runs import write_text_atomic

    path = Path(runs_dir) / spec.name / SWEEP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {**spec.model_dump(mode="json", include={"name", "sweep", "seeds"}), "spec": spec.resolved()}
    write_text_atomic(path, dump_yaml(record))
    return path


# --------------------------------------------------------------------------- parallel execution


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


class _QuietReporter:
    """A worker's progress goes to its run's log.txt only; the parent prints one line per run."""

    def __init__(self, store) -> None:
        self.store = store

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        self.epochs = epochs

    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        pass

    def epoch_done(self, row: dict[str, Any]) -> None:
        from cnnlab.progress import epoch_line

        self.store.log(epoch_line(row, self.epochs))

    def message(self, text: str) -> None:
        self.store.log(text)


def _worker(job: Job, runs_dir: str, command: list[str], results) -> None:
    """Run one job in a child process; report (index, status, path, summary, error)."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # terminate → KeyboardInterrupt → interrupted
    from cnnlab.execute import execute_run
    from cnnlab.spec import Spec

    spec = Spec.model_validate(job.resolved)
    spec._swept = job.swept
    try:
        outcome = execute_run(spec, Path(runs_dir), _QuietReporter, command, threads=job.threads, device=job.device)
        results.put((job.index, outcome.status, str(outcome.path), outcome.summary, outcome.error))
    except KeyboardInterrupt:
        results.put((job.index, "interrupted", None, None, "interrupted"))
    except Exception as err:  # the run directory could not even be made
        results.put((job.index, "failed", None, None, str(err).splitlines()[0] if str(err) else repr(err)))


@dataclass(frozen=True)
class Finished:
    index: int
    status: str
    path: Path | None
    summary: dict[str, Any] | None
    error: str | None


def run_parallel(jobs: list[Job], n: int, runs_dir: Path, command: list[str],
                 stop: Callable[[Finished], bool]) -> Iterator[Finished]:
    """Run `jobs` at most `n` at a time, yielding each as it finishes. When `stop(finished)` is true
    (fail-fast) or on KeyboardInterrupt, running jobs are interrupted and no new ones start."""
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    pending = list(jobs)
    running: dict[int, Any] = {}
    stopping = False
    try:
        while pending or running:
            while pending and len(running) < n and not stopping:
                job = pending.pop(0)
                proc = ctx.Process(target=_worker, args=(job, str(runs_dir), command, results), daemon=False)
                proc.start()
                running[job.index] = proc
            try:
                index, status, path, summary, error = results.get(timeout=0.5)
            except queue.Empty:
                for index, proc in list(running.items()):
                    if not proc.is_alive() and proc.exitcode not in (0, None):  # died without reporting
                        running.pop(index)
                        yield Finished(index, "failed", None, None, f"worker exited with code {proc.exitcode}")
                continue
            running.pop(index).join()
            finished = Finished(index, status, Path(path) if path else None, summary, error)
            yield finished
            if stop(finished) and not stopping:
                stopping, pending = True, []  # interrupted runs still report; unstarted ones never start
                _interrupt(running)
    except KeyboardInterrupt:
        _interrupt(running)
        _drain(results, running)
        raise


def _interrupt(running: dict[int, Any]) -> None:
    for proc in running.values():
        if proc.is_alive():
            os.kill(proc.pid, signal.SIGTERM)


def _drain(results, running: dict[int, Any]) -> None:
    """Wait for interrupted workers to mark their runs and exit."""
    for proc in running.values():
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    while True:
        try:
            results.get_nowait()
        except (queue.Empty, OSError, ValueError):
            break
