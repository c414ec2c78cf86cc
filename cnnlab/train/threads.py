"""CPU threads that degrade gracefully when the machine is shared.

OpenMP's idle threads spin before they sleep; beside other processes that want the same cores, the
spinning burns the cores the others need, and a training can keep a few percent of its speed. So
before torch loads, cnnlab shortens the spin (GOMP_SPINCOUNT, GNU OpenMP's, which PyTorch's Linux
wheels use), unless the user chose a policy. It keeps torch's thread count rather than choose one by
the machine's load: the count changes how sums are split, and a spec and a seed must give the same
numbers on the same machine. The measurements behind both choices: benchmarks/bench_threads.py.
"""

from __future__ import annotations

import os

USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS")  # a user who set one has chosen
SPIN_COUNT = "1000"


def configure_threads() -> None:
    """Before torch loads (GNU OpenMP reads its environment once): idle OpenMP threads spin briefly,
    then sleep. Worker processes started afterwards inherit it."""
    if not any(name in os.environ for name in USER_CHOICES):
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT
