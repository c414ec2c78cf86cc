"""`torchrun --nproc-per-node N -m cnnlab train EXP.yaml`: every run across the N processes (and the
nodes torchrun's rendezvous flags join), one run after the other.

torchrun starts N copies of `cnnlab train` with RANK, WORLD_SIZE and LOCAL_RANK set. They join one
process group; rank 0 then plans the runs (validate, pre-flight, skip what is done, find what to
resume, print) and sends the plan to the others, which print nothing and write nothing. Each run is
trained by all of them together: rank 0 through `execute_run`, the others following it
(cnnlab.run.torchrun.follower), all talking through one protocol object
(cnnlab.run.torchrun.protocol), and every process ends with rank 0's exit status.

Stopping is agreed: torchrun passes a Ctrl-C (SIGINT) or SIGTERM on to every process, and the
processes stop together at the next point where they compare notes (every few steps, between runs),
rank 0 writing last.pt and marking the run `interrupted`. A failure on any process fails the run,
naming the rank, and ends the job: the others cannot go on without it.

This module is torch-free: `size()` and `rank()` only read the environment.
"""

from __future__ import annotations

import os


def size() -> int:
    """How many processes torchrun started for this job (1 when it did not start this one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    """This process's rank among them (0 without torchrun)."""
    return int(os.environ.get("RANK", "0"))
