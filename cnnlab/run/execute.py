"""One run's life, whatever starts it (the in-process scheduler, a worker process, a Ray task,
torchrun's rank 0): claim the run, create its directory and first meta.json (or reopen it to
resume) before anything slow, train under a heartbeat, and record how it ended. The status it
leaves is true whatever happens: a signal (interrupted, last.pt written where training stood), a
second signal (interrupted at once), a full disk or a bug (failed, with the reason), a NaN loss
(diverged). Under torchrun the other processes hear of every step through `peers`
(cnnlab.run.peers); alone, `peers` is ALONE and costs nothing.
"""

from __future__ import annotations

import contextlib
import shlex
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError, Interrupted
from cnnlab.run.ending import failure_reason, resume_hint
from cnnlab.run.heartbeat import Heartbeat
from cnnlab.run.opening import create_run, recorded_precision, reopen_run, take_claim
from cnnlab.run.outcome import Outcome
from cnnlab.run.peers import ALONE, Peers, StartTraining
from cnnlab.run.provenance import machine
from cnnlab.run.signals import STOP
from cnnlab.rundir.liveness import now_iso
from cnnlab.rundir.records import FINISHED
from cnnlab.rundir.store import RunStore
from cnnlab.spec import RunSpec


def execute_run(run: RunSpec, runs_dir: Path, make_reporter: Callable[[RunStore], Any],
                command: list[str] | tuple[str, ...] | None = None, threads: int | None = None,
                device: str | None = None, resume: Path | None = None, force: bool = False,
                peers: Peers = ALONE) -> Outcome:
    """Train `run` into a new run directory under `runs_dir/<name>/`, or continue the run directory
    `resume` (whose spec `run` is, apart from result-neutral keys). Never raises for a run that ends
    badly: the outcome says how it ended (after a stop request, `interrupted`; STOP says which signal).

    The run is claimed first (cnnlab.rundir.claim): while another process trains it, or when it has
    completed meanwhile (unless `force`), it is skipped. `threads` and `device` replace the spec's for
    this process (a parallel sweep's share of the machine) without changing the recorded spec."""
    line = shlex.join(command if command is not None else sys.argv)
    with STOP.deferred():  # a signal stops the run only where its files are whole (see LiveRun)
        claim = take_claim(run, runs_dir, resume)
        if isinstance(claim, Outcome):
            peers.tell(claim)
            return claim
        with claim:
            try:
                opened = reopen_run(Path(resume), run, line) if resume is not None else \
                    create_run(run, runs_dir, line, force)
            except CnnlabError as err:
                opened = Outcome("failed", Path(resume) if resume else None, None, str(err))
            if isinstance(opened, Outcome):
                peers.tell(opened)
                return opened
            precision = recorded_precision(opened) if resume is not None else None
            peers.tell(StartTraining(resume is not None, precision))
            live = LiveRun(opened, peers)
            return live.train(run, make_reporter, threads, device, resume is not None, precision)


class LiveRun:
    """An opened run while it trains: it records how the run ended, once, however it ends (the end
    of training, a signal, a second signal at once, a failure here or on another process)."""

    def __init__(self, store: RunStore, peers: Peers) -> None:
        self.store, self.peers = store, peers
        self.base_seconds = store.read_meta().duration_s or 0.0  # of the attempts before a resume
        self.started = time.monotonic()
        self.trainer: Any = None
        self.ended: str | None = None  # the status once recorded
        self.unrecorded: str | None = None  # why the status could not be recorded, when it could not
        # A failed peer is recorded from a thread (cnnlab.train.distributed); re-entrant, because a second
        # signal's emergency action may run inside a `finish` of the same thread and must not wait for it.
        self._recording = threading.RLock()

    def train(self, run: RunSpec, make_reporter: Callable[[RunStore], Any], threads: int | None,
              device: str | None, resumed: bool, precision: str | None) -> Outcome:
        with STOP.on_emergency(self.stop_at_once), Heartbeat(self.store), self.peers.watching(self.peer_failed):
            try:
                with self.peers.interruptible():  # slow, and nothing to save yet
                    self._set_up(run, make_reporter(self.store), threads, device, resumed, precision)
                trainer = self.trainer
                self.store.update_meta(device=str(trainer.device), threads=trainer.threads,
                                       machine=machine(trainer.device), compute=trainer.compute)
                summary = self.trainer.run()  # polls for a stop after every step, and checkpoints before stopping
                self.store.write("summary.json", summary)
                outcome = self._finished("diverged" if summary.diverged else "completed", summary)
            except Interrupted as stop:
                outcome = self._interrupted(stop.signum)
            except Exception as err:  # the run failed; its traceback goes to its own log
                return self._failed(err)
        self.peers.tell(outcome)
        return outcome

    def _set_up(self, run: RunSpec, reporter: Any, threads: int | None, device: str | None, resumed: bool,
                precision: str | None) -> None:
        from cnnlab.run.restore import restore_last  # torch: only now that the run is on disk
        from cnnlab.train.loop import Trainer

        self.trainer = Trainer(run.spec, self.store, reporter, STOP.requested, self.peers.world(), precision)
        self.trainer.setup(threads=threads, device=device)
        if resumed:
            restore_last(self.trainer, self.store, self.peers)

    def finish(self, status: str, error: str | None = None, failed_rank: int | None = None,
               abandoned: bool = False) -> bool:
        """Record how the run ended (once: a run that has ended keeps its status); whether it did.
        `abandoned`: the process ends now, mid-write perhaps. Then, and when the run has finished, the
        temporary files go first (under the lock, so that the status written by another thread is never
        one of them)."""
        with self._recording:
            if self.ended is not None:
                return False
            if abandoned or status in FINISHED:
                self.store.remove_temp_files()
            try:
                duration = round(self.base_seconds + time.monotonic() - self.started, 3)
                self.store.update_meta(status=status, ended=now_iso(), heartbeat=now_iso(), error=error,
                                       failed_rank=failed_rank, duration_s=duration)
                self.ended = status
                return True
            except (OSError, CnnlabError) as err:  # the status cannot be written: the pid in meta.json reads as stale
                reason = failure_reason(err) if isinstance(err, OSError) else str(err)
                self.unrecorded = (f"its status could not be recorded in meta.json ({reason}); it shows as stale once "
                                   f"this process has ended")
                print(f"error: {self.store.path} {status}, but {self.unrecorded}", file=sys.stderr)
                return False

    def _finished(self, status: str, summary: Any) -> Outcome:
        """The outcome of a run that trained to its end: no success where its status could not be recorded."""
        if not self.finish(status) and self.unrecorded is not None:
            return Outcome("failed", self.store.path, summary, f"{status}, but {self.unrecorded}")
        return Outcome(status, self.store.path, summary)

    def _interrupted(self, signum: int) -> Outcome:
        STOP.adopt(signum)  # under torchrun it may have come to another process
        message = f"interrupted by {signal.Signals(signum).name} {self._position()}; {resume_hint(self.store.path)}"
        self.finish("interrupted", message)
        self._log(message)
        return Outcome("interrupted", self.store.path, None, message)

    def _failed(self, err: Exception) -> Outcome:
        if (peer := self.peers.failure()) is not None:  # another process failed first: this is the echo
            self.peer_failed(peer)
            return Outcome("failed", self.store.path, None, f"rank {peer.rank}: {peer.reason}")
        self._log(traceback.format_exc())
        error, rank = self.peers.failed(failure_reason(err))  # under torchrun the others stop
        self.finish("failed", error, rank)
        return Outcome("failed", self.store.path, None, error)

    def peer_failed(self, failure: Any) -> None:
        """Another process of the run failed: the run failed, naming it (its traceback in log.txt)."""
        if self.finish("failed", f"rank {failure.rank}: {failure.reason}", failure.rank, abandoned=True):
            size = self.peers.world().size
            self._log(f"rank {failure.rank} of {size} failed:\n{failure.details or failure.reason}")

    def stop_at_once(self, signum: int) -> None:
        """A second signal: the run is interrupted now (a peer's failure, if one came first, fails it)."""
        if (peer := self.peers.failure()) is not None:
            self.peer_failed(peer)
            return
        self.finish("interrupted", f"stopped at once by a second {signal.Signals(signum).name}; last.pt holds "
                                   f"the last checkpoint; {resume_hint(self.store.path)}", abandoned=True)

    def _position(self) -> str:
        trainer = self.trainer
        if trainer is None or not trainer.epoch and not trainer.partial.step:
            return "before the first epoch ended"
        step = trainer.partial.step
        return f"at epoch {trainer.epoch + 1}, step {step}" if step else f"at the end of epoch {trainer.epoch}"

    def _log(self, text: str) -> None:
        with contextlib.suppress(OSError):  # the status is what matters, and it is written
            self.store.log(text)
