"""One run's life, whatever starts it (the sequential loop, a parallel worker, a Ray task, a torchrun
rank 0): claim the run, create its directory and first meta.json (or reopen it to resume) before
anything slow, train under a heartbeat, and record how it ended. The status it leaves is true
whatever happens: a signal (interrupted, last.pt written where training stood), a second signal
(interrupted at once), a full disk or a bug (failed, with the reason), a NaN loss (diverged).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from cnnlab import __version__
from cnnlab.errors import CnnlabError, Interrupted
from cnnlab.run.heartbeat import Heartbeat
from cnnlab.run.signals import STOP
from cnnlab.rundir.claim import ClaimHeld, RunClaim
from cnnlab.rundir.ids import make_run_id
from cnnlab.rundir.liveness import now_iso, observed_status
from cnnlab.rundir.records import RESUMABLE, Resumption, RunMeta, RunSummary
from cnnlab.rundir.store import RunDirError, RunStore, experiment_dir
from cnnlab.spec import Spec
from cnnlab.spec.identity import canonical, differences, identity_key, result_differences


@dataclass(frozen=True)
class Outcome:
    status: str  # completed | failed | interrupted | diverged | skipped
    path: Path | None  # None: no run directory was made (skipped, or it could not be)
    summary: RunSummary | None
    error: str | None = None  # why it failed, was interrupted or skipped


def git_commit(cwd: Path) -> str | None:
    """The commit of the working directory's repository, if it is one (for reproducibility)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    """cnnlab's, Python's and the libraries' versions, from the installed packages' metadata (no import:
    the first meta.json is written before torch is imported, which takes seconds)."""
    found = {"cnnlab": __version__, "python": platform.python_version()}
    for name in ("torch", "torchvision", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def machine(device) -> str:
    """'AMD EPYC 7B13, 2 CPUs' (and the GPU's name when training on one): where the numbers come from."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
        cpu = next((line.partition(":")[2].strip() for line in info if line.startswith("model name")), cpu)
    text = f"{cpu}, {os.cpu_count()} CPUs"
    if device.type == "cuda":
        import torch

        text += f", {torch.cuda.get_device_name(device)}"
    return text


def failure_reason(err: BaseException) -> str:
    """One line saying why a run failed: `No space left on device: checkpoints/last.pt`, or the error's
    first line."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {written_file(err.filename)}" if err.filename else err.strerror
    text = str(err).splitlines()[0] if str(err) else ""
    return text or type(err).__name__


def written_file(filename: Any) -> str:
    """The file a write was for: `…/checkpoints/.last.pt.k2j3h4g5.tmp` → `…/checkpoints/last.pt`."""
    path = Path(os.fsdecode(filename))
    match = re.fullmatch(r"\.(.+)\.[^.]+\.tmp", path.name)
    return str(path.with_name(match.group(1)) if match else path)


def execute_run(spec: Spec, runs_dir: Path, make_reporter: Callable[[RunStore], Any],
                command: list[str] | None = None, threads: int | None = None, device: str | None = None,
                resume: Path | None = None, force: bool = False, world: Any = None) -> Outcome:
    """Train `spec` into a new run directory under `runs_dir/<name>/`, or continue the run directory
    `resume` (whose spec `spec` is, apart from result-neutral keys). Never raises for a run that ends
    badly: the outcome says how it ended (after a stop request, `interrupted`; STOP says which signal).

    The run is claimed first (cnnlab.rundir.claim): while another process trains it, or when it has
    completed meanwhile (unless `force`), it is skipped. `threads` and `device` replace the spec's for
    this process (a parallel sweep's share of the machine) without changing the recorded spec.

    Under torchrun every process calls this with its `world` (cnnlab.train.distributed): rank 0 does
    all of the above and tells the others what to do; they train with it and write nothing
    (`follow_run`), and all return rank 0's outcome."""
    if world is not None and not world.is_main:
        return follow_run(spec, threads, device, world)
    line = shlex.join(command if command is not None else sys.argv)
    with STOP.deferred():  # a signal stops the run only where its files are whole (see _live)
        claim = take_claim(spec, runs_dir, resume)
        if isinstance(claim, Outcome):
            return _told(world, claim)
        with claim:
            try:
                opened = (_reopen(Path(resume), spec, line) if resume is not None
                          else _create(spec, runs_dir, line, force))
            except CnnlabError as err:
                return _told(world, Outcome("failed", Path(resume) if resume else None, None, str(err)))
            if isinstance(opened, Outcome):
                return _told(world, opened)
            store, base_seconds = opened
            precision = _recorded_precision(store) if resume is not None else None
            if world is not None:
                world.broadcast(Go(resume is not None, precision))
            return _live(spec, store, base_seconds, make_reporter, threads, device, resume is not None,
                         precision, world)


@dataclass(frozen=True)
class Go:
    """Rank 0 to the other processes: train this run (resumed: rank 0 sends last.pt next)."""

    resumed: bool
    precision: str | None  # the precision the run recorded (a resume continues in it)


def _told(world: Any, outcome: Outcome) -> Outcome:
    """A run rank 0 does not train: the other processes hear how it ended."""
    if world is not None:
        world.broadcast(outcome)
    return outcome


def _recorded_precision(store: RunStore) -> str | None:
    """The precision a run to resume trained in (None for runs from before meta.json recorded it)."""
    compute = store.read_meta().compute
    return compute.precision if compute is not None else None


def take_claim(spec: Spec, runs_dir: Path, resume: Path | None = None) -> RunClaim | Outcome:
    """The run's exclusive claim among the runs under `runs_dir`, or the outcome that says why it
    cannot be had (skipped: another process trains it now)."""
    try:
        experiment_dir(runs_dir, spec.name)  # refused when runs/<name> leads outside
        return RunClaim.acquire(Path(runs_dir).resolve(), _claim_key(spec, resume))
    except ClaimHeld as held:
        return Outcome("skipped", None, None, f"another cnnlab process is training it now ({held.holder})")
    except (CnnlabError, OSError) as err:
        return Outcome("failed", None, None, str(err) if isinstance(err, CnnlabError) else failure_reason(err))


def _claim_key(spec: Spec, resume: Path | None) -> str:
    """The run's identity: its resolved spec, as recorded in spec.yaml when it is resumed (the resume
    may change result-neutral keys, and must still meet the process that may be running it)."""
    if resume is None:
        return identity_key(spec.resolved())
    from cnnlab.run.saved import read_run_spec

    return identity_key(read_run_spec(Path(resume)))


def _create(spec: Spec, runs_dir: Path, command: str, force: bool) -> tuple[RunStore, float] | Outcome:
    """A new run directory with spec.yaml and a `running` meta.json; nothing is left when they cannot
    be written (a full disk, no permission)."""
    if not force and (done := completed_meanwhile(spec, runs_dir)) is not None:
        return done
    store = RunStore.create(runs_dir, spec.name,
                            lambda: make_run_id(spec.labels.values(), spec.set_labels.values(), spec.seed))
    try:
        store.write_yaml("spec.yaml", spec.resolved())
        store.write("meta.json", RunMeta(
            status="running", run_id=store.path.name, name=spec.name, started=now_iso(), seed=spec.seed,
            swept=spec.swept, versions=versions(), host=platform.node(), pid=os.getpid(), heartbeat=now_iso(),
            git_commit=git_commit(Path.cwd()), command=command,
        ))
    except OSError as err:
        shutil.rmtree(store.path, ignore_errors=True)
        raise RunDirError(f"cannot write a new run's files under {store.path.parent} "
                          f"({failure_reason(err)}); nothing was trained") from None
    return store, 0.0


def completed_meanwhile(spec: Spec, runs_dir: Path) -> Outcome | None:
    """`skipped`, when a completed directory of the same run (cnnlab.spec.identity) appeared since the
    sweep was planned: checked under the run's claim, so no other process can complete it after."""
    from cnnlab.run.skip import completed_specs

    done = completed_specs(experiment_dir(runs_dir, spec.name)).get(canonical(spec.resolved()))
    return None if done is None else Outcome("skipped", done, None, "already completed (by another process, meanwhile)")


def _reopen(path: Path, spec: Spec, command: str) -> tuple[RunStore, float] | Outcome:
    """A run directory to continue: `running` again under this process, with the resumption recorded
    (and the result-neutral keys, such as train.threads, that it continues with differently)."""
    from cnnlab.run.saved import read_run_meta, read_run_spec

    meta = read_run_meta(path)
    status = observed_status(meta)
    if status not in RESUMABLE:
        return Outcome("skipped", path, None, f"{status} meanwhile; nothing to resume")
    recorded, resolved = read_run_spec(path), spec.resolved()
    if changed := result_differences(recorded, resolved):
        return Outcome("failed", path, None, f"{changed[0]}: differs from the run's spec.yaml; it cannot resume")
    neutral = {key: _at(resolved, key) for key in differences(recorded, resolved)}
    resumption = Resumption(at=now_iso(), status=status, host=platform.node(), pid=os.getpid(), command=command,
                            changed=neutral)
    store = RunStore(path)
    store.update_meta(status="running", ended=None, error=None, failed_rank=None, host=platform.node(), pid=os.getpid(),
                      heartbeat=now_iso(), resumptions=[*meta.resumptions, resumption])
    return store, meta.duration_s or 0.0


def _at(data: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def _live(spec: Spec, store: RunStore, base_seconds: float, make_reporter: Callable[[RunStore], Any],
          threads: int | None, device: str | None, resumed: bool, precision: str | None = None,
          world: Any = None) -> Outcome:
    """Train the opened run and record how it ended (rank 0 under torchrun: the others' failures too)."""
    started = time.monotonic()
    trainer = None
    ended: list[str] = []  # the status once recorded
    # A failed rank is recorded from a thread (cnnlab.train.distributed); re-entrant, because a second
    # signal's emergency action may run inside a `finish` of the same thread and must not wait for it.
    recording = threading.RLock()
    several = world is not None and world.size > 1

    def finish(status: str, error: str | None = None, failed_rank: int | None = None) -> bool:
        """Record how the run ended (once: a run that has ended keeps its status); whether it did."""
        with recording:
            if ended:
                return False
            try:
                duration = round(base_seconds + time.monotonic() - started, 3)
                store.update_meta(status=status, ended=now_iso(), heartbeat=now_iso(), error=error,
                                  failed_rank=failed_rank, duration_s=duration)
                ended.append(status)
                return True
            except (OSError, CnnlabError) as err:  # the status cannot be written: the pid in meta.json reads as stale
                reason = failure_reason(err) if isinstance(err, OSError) else str(err)
                print(f"cnnlab: cannot record that {store.path} {status}: {reason}", file=sys.stderr)
                return False

    def peer_failed(failure: Any) -> None:
        store.remove_temp_files()
        if finish("failed", f"rank {failure.rank}: {failure.reason}", failure.rank):
            _log(store, f"rank {failure.rank} of {world.size} failed:\n{failure.details or failure.reason}")

    def at_once(signum: int) -> None:
        store.remove_temp_files()
        if several and (peer := world.peer_failure()) is not None:
            peer_failed(peer)
            return
        finish("interrupted", f"stopped at once by a second {signal.Signals(signum).name}; "
                              f"{_resume_hint(store, 'last.pt holds the last checkpoint')}")

    on_peer_failure = world.on_peer_failure(peer_failed) if several else contextlib.nullcontext()
    # One process: the slow start can stop at once. Several: every stop is agreed at the same step.
    slow_start = STOP.interruptible() if not several else contextlib.nullcontext()
    with STOP.on_emergency(at_once), Heartbeat(store), on_peer_failure:
        try:
            with slow_start:  # slow, and nothing to save yet
                from cnnlab.train.distributed import SINGLE
                from cnnlab.train.loop import Trainer  # torch: only now that the run is on disk

                trainer = Trainer(spec, store, make_reporter(store), STOP.requested, world or SINGLE, precision)
                trainer.setup(threads=threads, device=device)
                if resumed:
                    _restore(trainer, store)
            store.update_meta(device=str(trainer.device), threads=trainer.threads, machine=machine(trainer.device),
                              compute=trainer.compute)
            summary = trainer.run()  # polls for a stop after every step, and checkpoints before stopping
            store.write("summary.json", summary)
            status = "diverged" if summary.diverged else "completed"
            finish(status)
            outcome = Outcome(status, store.path, summary)
        except Interrupted as stop:
            STOP.adopt(stop.signum)  # under torchrun it may have come to another process
            message = f"interrupted by {signal.Signals(stop.signum).name} {_position(trainer)}; {_resume_hint(store)}"
            finish("interrupted", message)
            _log(store, message)
            outcome = Outcome("interrupted", store.path, None, message)
        except Exception as err:  # the run failed; its traceback goes to its own log
            reason = failure_reason(err)
            if several and (peer := world.peer_failure()) is not None:  # it failed first: this is the echo
                peer_failed(peer)
                return Outcome("failed", store.path, None, f"rank {peer.rank}: {peer.reason}")
            _log(store, traceback.format_exc())
            if several:
                finish("failed", f"rank 0: {reason}", 0)
                world.fail(reason)  # the other processes stop
                return Outcome("failed", store.path, None, f"rank 0: {reason}")
            finish("failed", reason)
            return Outcome("failed", store.path, None, reason)
    return _told(world, outcome)


def follow_run(spec: Spec, threads: int | None, device: str | None, world: Any) -> Outcome:
    """A run on a process other than rank 0 under torchrun: train it with the others, write nothing,
    and return the outcome rank 0 recorded. On a failure here, say why (the traceback to stderr, the
    reason to rank 0, which marks the run failed) and exit."""
    go = world.broadcast()
    if isinstance(go, Outcome):  # rank 0 does not train it (skipped, or it could not be opened)
        return go
    from cnnlab.train.loop import Trainer
    from cnnlab.train.progress import QuietReporter

    try:
        trainer = Trainer(spec, None, QuietReporter(), STOP.requested, world, go.precision)
        trainer.setup(threads=threads, device=device)
        if go.resumed and (state := world.broadcast()) is not None:
            trainer.restore(state)
        trainer.run()
    except Interrupted as stop:  # agreed by all processes: rank 0 records it
        STOP.adopt(stop.signum)
    except Exception as err:
        traceback.print_exc()
        world.fail(failure_reason(err), traceback.format_exc())
        sys.stderr.flush()
        os._exit(1)  # the others stop too: nothing to wait for
    return world.broadcast()


def _restore(trainer: Any, store: RunStore) -> None:
    """Continue from last.pt, or from the start when the run never reached a checkpoint (under
    torchrun, rank 0 reads it and sends it to the other processes)."""
    from cnnlab.train import checkpoint

    path = store.file("checkpoints/last.pt")
    epoch = step = 0
    state = checkpoint.load(path, "cpu") if path.exists() else None  # random states must stay CPU tensors
    trainer.world.broadcast(state)
    if state is not None:
        trainer.restore(state)  # the weights are copied onto the training device
        epoch, step = trainer.epoch, trainer.partial.step
    else:
        store.write_metrics([])
    meta = store.read_meta()
    last = meta.resumptions[-1].model_copy(update={"epoch": epoch, "step": step})
    store.update_meta(resumptions=[*meta.resumptions[:-1], last])
    epochs = trainer.train_spec.epochs
    trainer.reporter.message(f"resuming epoch {epoch + 1} of {epochs} at step {step}" if step else
                             f"resuming after epoch {epoch} of {epochs}")


def _position(trainer: Any) -> str:
    if trainer is None or not trainer.epoch and not trainer.partial.step:
        return "before the first epoch ended"
    step = trainer.partial.step
    return f"at epoch {trainer.epoch + 1}, step {step}" if step else f"at the end of epoch {trainer.epoch}"


def _resume_hint(store: RunStore, prefix: str = "") -> str:
    """How to continue the run: under torchrun with torchrun again (on as many processes it continues
    exactly)."""
    launcher = "cnnlab"
    if (processes := os.environ.get("WORLD_SIZE", "1")) != "1":
        one_machine = os.environ.get("LOCAL_WORLD_SIZE") == processes
        launcher = f"torchrun {f'--nproc-per-node {processes}' if one_machine else '(the same options)'} -m cnnlab"
    return f"{prefix + '; ' if prefix else ''}continue it with: {launcher} train --resume {store.path}"


def _log(store: RunStore, text: str) -> None:
    with contextlib.suppress(OSError):  # the status is what matters, and it is written
        store.log(text)
