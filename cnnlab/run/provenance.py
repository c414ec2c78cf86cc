"""Where a run's numbers come from, as meta.json records it: versions, the git commit, the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from cnnlab import __version__


def git_commit(cwd: Path) -> str | None:
    """The commit of the working directory's repository, if it is one."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def versions() -> dict[str, str]:
    """cnnlab's, Python's and the libraries' versions, from the installed packages' metadata (no import:
    the first meta.json is written before torch is imported, which takes seconds)."""
    found = {"cnnlab": __version__, "python": platform.python_version()}
    for name in ("torch", "torchvision", "numpy"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


ISA_LIMITS = ("ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
"""The environment variables that cap the instruction set of oneDNN's kernels (convolutions) and MKL's
(matrix products); torch's own follow ATEN_CPU_CAPABILITY, which get_cpu_capability() reports."""


def machine(device: Any) -> str:
    """'AMD EPYC 7B13, 2 CPUs, AVX512 kernels' on the CPU, 'AMD EPYC 7B13, 2 CPUs, NVIDIA H200' on a GPU.

    On the CPU the instruction set the kernels were dispatched for is part of where a number comes
    from: the same code, seed and thread count round differently with AVX2 and AVX512 kernels, and a
    processor's model name (often only 'AMD EPYC' in a virtual machine) does not say which ran. The
    caps of ISA_LIMITS, when set, are named with it."""
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
        cpu = next((line.partition(":")[2].strip() for line in info if line.startswith("model name")), cpu)
    text = f"{cpu}, {os.cpu_count()} CPUs"
    if device.type == "cuda":
        return f"{text}, {torch.cuda.get_device_name(device)}"
    limits = [f"{name}={value}" for name in ISA_LIMITS if (value := os.environ.get(name))]
    return f"{text}, {torch.backends.cpu.get_cpu_capability()} kernels" + (f" ({', '.join(limits)})" if limits else "")
