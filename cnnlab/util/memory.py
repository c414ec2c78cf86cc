"""How much memory this machine has for a run: its RAM (or the cgroup limit a container sets, if
lower) and an NVIDIA GPU's, read without torch (the pre-flight must not import it). These are upper
bounds: what cannot fit in them cannot train here whatever else runs."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess

CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1
UNKNOWN = 2**63  # a machine that does not say: nothing is refused for want of memory
GPU_QUERY_S = 5.0  # nvidia-smi answers in well under a second; a hung driver must not hang the pre-flight


@functools.cache
def machine_memory() -> int:
    """Bytes of memory this process may use: the physical memory, or the cgroup's limit if lower."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):  # Windows has no sysconf
        total = UNKNOWN
    for path in CGROUP_LIMITS:
        with contextlib.suppress(OSError, ValueError), open(path, encoding="ascii") as limit:
            total = min(total, int(limit.read().strip()))  # "max" (no limit) is a ValueError
    return total


@functools.cache
def gpu_memory() -> int | None:
    """Bytes of memory of this machine's largest NVIDIA GPU, as nvidia-smi reports it (CUDA may number
    the GPUs otherwise: the largest bounds them all); None without one."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        done = subprocess.run([smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=GPU_QUERY_S, check=True)
        sizes = [int(line.strip()) << 20 for line in done.stdout.splitlines() if line.strip()]  # MiB
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return max(sizes, default=None)
