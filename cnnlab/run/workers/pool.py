"""`--jobs N`, the parent's side: at most N worker processes (spawned, so that no torch state is
shared with the parent), each with an equal share of the CPU threads, or its own GPU when several
are visible. The parent hands out the jobs, passes their progress to the board, and stops them as
the stop policy says; it never imports torch.

On a stop (a first SIGINT or SIGTERM, or fail-fast) the parent hands out no more jobs and sends
SIGTERM to the busy workers, whose runs then end `interrupted` with last.pt; a second signal kills
them at once and marks their runs itself. A worker that dies without reporting (killed for memory,
a crash) has its run marked failed here, and a new worker takes its place.
"""

from __future__ import annotations

import contextlib
import glob
import multiprocessing as mp
import os
import signal
import sys
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from cnnlab.run.board import shown_path
from cnnlab.run.ending import resume_hint
from cnnlab.run.jobs import Job, plan_jobs, slot_device
from cnnlab.run.ledger import Ledger, Tally
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import Plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.scheduler import Scheduler
from cnnlab.run.signals import STOP, start_with_signals_blocked
from cnnlab.run.workers.worker import worker_main
from cnnlab.rundir.liveness import now_iso
from cnnlab.rundir.records import RecordError, RunMeta, read_json_record
from cnnlab.rundir.store import RunStore
from cnnlab.util.process import usable_cpus
from cnnlab.util.text import plural

POLL_S = 0.25  # how often the parent looks for a stop request while it waits for workers
GPU_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/dxg", "/dev/kfd")  # NVIDIA, WSL2's GPU, ROCm


def gpu_count() -> int:
    """The GPUs the workers share out (one each). On Linux a machine without any GPU device file has
    none: the parent then does not import torch (seconds) only to count them."""
    if sys.platform.startswith("linux") and not any(glob.glob(pattern) for pattern in GPU_DEVICE_FILES):
        return 0
    import torch

    return torch.cuda.device_count()


class WorkerPool(Scheduler):
    def in_process(self, plan: Plan) -> bool:
        return False

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs

    def run(self, plan: Plan, policy: StopPolicy, reporter: Any) -> Tally:
        todo = plan.todo
        n = min(self.jobs, len(todo))
        jobs = plan_jobs(todo, n, usable_cpus())
        ledger = Ledger(plan, policy, reporter)
        with reporter.begin(f"{plural(len(todo), 'run')}, {n} at a time, into {shown_path(plan.folder)}/", n):
            Workers(plan, ledger, jobs, n, gpu_count()).run()
        return ledger.tally()


@dataclass
class Worker:
    slot: int  # its place among the N (its GPU when there are several)
    proc: Any
    channel: Connection  # jobs go out, progress and results come back
    job: Job | None = None  # the job it is running; None while it waits for one


class Workers:
    """The worker processes of one plan, from the first job handed out to the last result."""

    def __init__(self, plan: Plan, ledger: Ledger, jobs: list[Job], n: int, gpu_count: int) -> None:
        self.plan, self.ledger, self.n, self.gpu_count = plan, ledger, n, gpu_count
        self.pending = list(jobs)
        self.workers: list[Worker] = []
        self.stopping = False  # the busy workers were told to stop
        self.context = mp.get_context("spawn")

    def busy(self) -> list[Worker]:
        return [worker for worker in self.workers if worker.job is not None]

    def run(self) -> None:
        with STOP.deferred(), STOP.on_emergency(self.kill_all):
            try:
                while self.pending or self.busy():
                    if self.ledger.stopping() and not self.stopping:
                        self.stop_all()
                    self.hand_out()
                    ends = [end for worker in self.workers for end in (worker.proc.sentinel, worker.channel)]
                    ready = set(wait(ends, timeout=POLL_S))
                    for worker in list(self.workers):
                        if worker.proc.sentinel in ready or worker.channel in ready:
                            self.receive(worker)
            finally:
                self.dismiss()

    def hand_out(self) -> None:
        """Idle workers (or new ones, up to N) get the next jobs, while the plan goes on."""
        while self.pending and not self.ledger.stopping():
            idle = next((worker for worker in self.workers if worker.job is None), None)
            if idle is None:
                if len(self.workers) == self.n:
                    return
                idle = self.start_worker()
            job = slot_device(self.pending[0], idle.slot, self.gpu_count)
            try:
                idle.channel.send(job)
            except OSError:  # it died while it waited: replaced on the next round
                self.forget(idle)
                continue
            self.pending.pop(0)
            idle.job = job
            self.ledger.started(job.index)

    def start_worker(self) -> Worker:
        slot = min(set(range(self.n)) - {worker.slot for worker in self.workers})
        mine, theirs = self.context.Pipe()
        proc = self.context.Process(target=worker_main, args=(str(self.plan.runs_dir), list(self.plan.command),
                                                              self.plan.force, os.getpid(), theirs))
        start_with_signals_blocked(proc)
        theirs.close()  # the child holds the only other end: EOF when it dies
        self.workers.append(Worker(slot, proc, mine))
        return self.workers[-1]

    def receive(self, worker: Worker) -> None:
        """What a worker has sent: its run's progress, and how the run ended; or that it died."""
        outcome = self.received(worker)
        if worker.proc.exitcode is not None:
            if outcome is None:  # gone before its pipe showed the end (its sentinel can wake us first)
                outcome = self.died(worker)
            self.forget(worker)
        if outcome is not None and self.ledger.finished(outcome[0], outcome[1]) and not self.stopping:
            self.stop_all()  # fail-fast: running runs are interrupted, unstarted ones never start

    def received(self, worker: Worker) -> tuple[int, Outcome] | None:
        """(run index, outcome) once the worker's run has ended (the worker is idle again, or dead: its
        run, if it had one, is then marked failed here); None while its run goes on, or when an idle
        worker left."""
        try:
            while worker.channel.poll():
                kind, payload = worker.channel.recv()
                if kind == "progress":
                    if worker.job is not None:
                        self.ledger.progress(worker.job.index, payload)
                    continue
                index, worker.job = worker.job.index, None
                return index, payload
        except (EOFError, OSError):
            return self.died(worker)
        return None

    def died(self, worker: Worker) -> tuple[int, Outcome] | None:
        worker.proc.join()
        if worker.job is None:  # it left while idle (told to, or a signal): nothing was lost
            return None
        code = worker.proc.exitcode
        reason = (f"the worker process was killed by {signal.Signals(-code).name}" if code and code < 0
                  else f"the worker process exited with code {code}")
        path = mark_abandoned(self.plan.folder, worker.proc.pid, "failed", reason)
        index, worker.job = worker.job.index, None
        if code == 0 and path is None:  # a signal made it leave before it took the job
            return index, Outcome.not_started()
        return index, Outcome("failed", path, None, reason)

    def forget(self, worker: Worker) -> None:
        worker.proc.join()
        self.workers.remove(worker)

    def stop_all(self) -> None:
        """No job starts any more; the busy workers stop their runs after the current step."""
        self.stopping = True
        self.pending.clear()
        for worker in self.busy():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGTERM)

    def kill_all(self, signum: int) -> None:
        """A second signal: every worker killed now, and their runs marked here."""
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.proc.pid, signal.SIGKILL)
        for worker in self.workers:
            worker.proc.join()
        for worker in self.busy():
            mark_abandoned(self.plan.folder, worker.proc.pid, "interrupted",
                           f"stopped at once by a second {signal.Signals(signum).name}")

    def dismiss(self) -> None:
        """Idle workers (or, after an error here, every one) leave, and are waited for."""
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.channel.send(None)
            if worker.job is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.proc.pid, signal.SIGTERM)
        for worker in self.workers:
            worker.proc.join()


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
            hint = f"; {resume_hint(store.path)}" if status == "interrupted" else ""
            with contextlib.suppress(OSError, RecordError):
                store.update_meta(status=status, ended=now_iso(), error=reason + hint)
            return store.path
    return None
