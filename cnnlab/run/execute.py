"""One run's life: create its directory, record what it is, train, record how it ended."""

from __future__ import annotations

import contextlib
import os
import platform
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cnnlab import __version__
from cnnlab.rundir.ids import make_run_id
from cnnlab.rundir.records import RunMeta, RunSummary, Status
from cnnlab.rundir.store import RunStore
from cnnlab.spec import Spec


@dataclass(frozen=True)
class Outcome:
    status: Status  # completed | failed | interrupted | diverged
    path: Path
    summary: RunSummary | None
    error: str | None = None


def _now() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def git_commit(cwd: Path) -> str | None:
    """The commit of the working directory's repository, if it is one (for reproducibility)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    import numpy
    import torch
    import torchvision

    return {"cnnlab": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "numpy": numpy.__version__}


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


def execute_run(spec: Spec, runs_dir: Path, make_reporter: Callable[[RunStore], Any],
                command: list[str] | None = None, threads: int | None = None, device: str | None = None) -> Outcome:
    """Train `spec` into a new run directory under `runs_dir/<name>/`; never raises for a failed
    run (the outcome says how it ended), except KeyboardInterrupt after marking it interrupted.

    `threads` and `device` replace the spec's `train.threads` / `train.device` for this process (a
    parallel sweep's share of the machine) without changing the run's recorded spec."""
    from cnnlab.train.loop import Trainer

    store = RunStore.create(runs_dir, spec.name, make_run_id(spec.swept, spec.seed))
    store.write_yaml("spec.yaml", spec.resolved())
    started = time.time()
    store.write("meta.json", RunMeta(
        status="running", run_id=store.path.name, name=spec.name, started=_now(), seed=spec.seed,
        swept=spec.swept, versions=versions(), host=platform.node(), git_commit=git_commit(Path.cwd()),
        command=shlex.join(command if command is not None else sys.argv),
    ))

    def finish(status: Status, error: str | None = None, **extra: Any) -> None:
        store.update_meta(status=status, ended=_now(), duration_s=round(time.time() - started, 3), error=error,
                          **extra)

    try:
        trainer = Trainer(spec, store, make_reporter(store))
        trainer.setup(threads=threads, device=device)
        store.update_meta(device=str(trainer.device), threads=trainer.threads, machine=machine(trainer.device))
        summary = trainer.run()
        store.write("summary.json", summary)
    except KeyboardInterrupt:
        finish("interrupted", "interrupted by the user")
        store.log("interrupted by the user")
        raise
    except Exception as err:  # the run failed; its traceback goes to its own log
        store.log(traceback.format_exc())
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        finish("failed", message)
        return Outcome("failed", store.path, None, message)
    status = "diverged" if summary.diverged else "completed"
    finish(status)
    return Outcome(status, store.path, summary)
