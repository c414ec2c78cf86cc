"""CPU threads that degrade gracefully when the machine is shared.

PyTorch's CPU kernels run on OpenMP threads, by default one per core, and OpenMP's idle threads spin
(busy-wait) for a while before they sleep, so that the next parallel region starts at once. On a
quiet machine that costs nothing; when other processes want the same cores, each parallel region
waits for a thread that has no core, while the spinning ones burn the cores the others need: a
one-epoch quickstart took 1.4 s quiet and 15–45 s beside other work (benchmarks/bench_threads.py).

cnnlab therefore sets OpenMP's wait policy to PASSIVE (idle threads sleep at once) before torch
loads, unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT) themselves. It does not
choose the number of threads from the machine's load: the thread count changes how sums are split,
so the numbers of a run would then depend on what else was running (a spec and a seed must give the
same numbers on the same machine). torch's default (the physical cores) stays, and `train.threads: 1`
is the choice for a machine known to be busy; parallel sweeps (--jobs) already split the cores.
"""

from __future__ import annotations

import os

USER_CHOICES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # a user who set either has chosen how threads wait


def configure_threads() -> None:
    """Before torch loads (it reads the environment once): idle OpenMP threads sleep instead of
    spinning. Worker processes started afterwards inherit it."""
    if not any(name in os.environ for name in USER_CHOICES):
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
