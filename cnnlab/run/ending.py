"""How a run's end is put in words: why it failed (one line, naming the file a failed write was for),
how to continue it."""

from __future__ import annotations

import os
from pathlib import Path

from cnnlab.util.files import written_file


def failure_reason(err: BaseException) -> str:
    """One line saying why a run failed: `No space left on device: checkpoints/last.pt`, or the error's
    first line."""
    if isinstance(err, OSError) and err.strerror:
        return f"{err.strerror}: {written_file(err.filename)}" if err.filename else err.strerror
    text = str(err).splitlines()[0] if str(err) else ""
    return text or type(err).__name__


def resume_hint(run_dir: Path) -> str:
    """How to continue a stopped run: under torchrun with torchrun again (on as many processes it
    continues exactly)."""
    launcher = "cnnlab"
    if (processes := os.environ.get("WORLD_SIZE", "1")) != "1":
        one_machine = os.environ.get("LOCAL_WORLD_SIZE") == processes
        launcher = f"torchrun {f'--nproc-per-node {processes}' if one_machine else '(the same options)'} -m cnnlab"
    return f"continue it with: {launcher} train --resume {run_dir}"
