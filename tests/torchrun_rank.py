"""`cnnlab train` as one of torchrun's processes, with a fault planted in one of them, for the tests:

    python -m torch.distributed.run --nproc-per-node 2 tests/torchrun_rank.py raise|sigint RANK STEP train ...

On process RANK, the STEP-th training step raises an error (`raise`) or sends SIGINT to torchrun, as a
Ctrl-C in its terminal would (`sigint`: torchrun passes it on to every process)."""

from __future__ import annotations

import os
import signal
import sys

from cnnlab.cli import main
from cnnlab.train.engine import Engine


def plant(action: str, step: int) -> None:
    train_step = Engine.train_step
    steps = 0

    def planted(self, *args, **kwargs):
        nonlocal steps
        steps += 1
        if steps == step:
            if action == "raise":
                raise RuntimeError(f"planted failure at step {step}")
            os.kill(os.getppid(), signal.SIGINT)  # torchrun started this process
        return train_step(self, *args, **kwargs)

    Engine.train_step = planted


if __name__ == "__main__":
    action, rank, step, *args = sys.argv[1:]
    if os.environ["RANK"] == rank:
        plant(action, int(step))
    sys.argv = ["cnnlab", *args]
    main()
