"""CPU threads that degrade gracefully when the machine is shared.

PyTorch's CPU kernels run on OpenMP threads, by default one per core, and OpenMP's idle threads spin
(busy-wait) for a while before they sleep, so that the next parallel region starts at once. On a
quiet machine that is what makes two threads fast; when other processes want the same cores, each
parallel region waits for a thread that has no core, while the spinning ones burn the cores the
others need: two trainings at once on two cores each kept 3% of the speed one had alone.

cnnlab therefore shortens the spin before torch loads: GOMP_SPINCOUNT=1000 (GNU OpenMP, which
PyTorch's Linux wheels use; 300,000 by default, and 1,000 is what GNU OpenMP itself falls back to
when it sees more threads than CPUs). benchmarks/bench_threads.py, 2 cores, against a hand-written
loop with torch's defaults: alone, 1.13× the hand loop (1.38× with the default spin, 1.02× with
OMP_WAIT_POLICY=PASSIVE, which never spins); beside a second training, 56% of its speed alone kept
(3% with the default spin, 69% with PASSIVE); beside a busy loop, 58% (26%, 65%). A user who set
OMP_WAIT_POLICY, GOMP_SPINCOUNT or OMP_NUM_THREADS keeps their choice.

It does not choose the number of threads from the machine's load, although one thread is what
degrades least (97–101% of its speed kept in both cases above, 1.11× the hand loop alone): the
thread count changes how sums are split, so a run's numbers would then depend on what else was
running, while a spec and a seed must give the same numbers on the same machine. torch's default
(the physical cores) stays; `train.threads: 1` is the choice for a machine known to be busy, and
parallel sweeps (--jobs) already split the cores.
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
