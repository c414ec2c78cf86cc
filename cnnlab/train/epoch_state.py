"""The epoch in progress: how far it got and its running sums, which last.pt carries so that a resume
in the middle of an epoch continues it exactly."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from cnnlab.train.distributed import World


@dataclass
class EpochSoFar:
    """The epoch in progress: how far it got and its running sums (what a mid-epoch resume needs)."""

    step: int = 0  # batches done
    lr: float = 0.0  # the rate at the epoch's start (metrics.csv's `lr`)
    loss_sum: torch.Tensor | None = None  # Σ loss·batch, float64 on the device (this process's part)
    correct: torch.Tensor | None = None  # int64 on the device (this process's part)
    seen: int = 0  # images of the batches done, over all processes
    timed: int = 0  # of those, the images of timed steps (not a compiling first step): images/s
    seconds: float = 0.0  # training time so far (warm-up excluded)
    shuffle_state: torch.Tensor | None = None  # the batch-order generator when the epoch began

    def progress(self, world: World) -> dict[str, Any]:
        """Its keys of last.pt's `progress`, the running sums totalled over the processes (every process
        calls it; the batch-order state goes with the random states)."""
        return {"step": self.step, "epoch_lr": self.lr, "epoch_seen": self.seen, "epoch_timed": self.timed,
                "epoch_seconds": self.seconds,
                "epoch_loss_sum": world.total(self.loss_sum) if self.loss_sum is not None else None,
                "epoch_correct": world.total(self.correct) if self.correct is not None else None}

    @classmethod
    def from_progress(cls, progress: dict[str, Any], device: torch.device, carries_sums: bool) -> EpochSoFar:
        """The epoch as `progress` saved it, its running sums on `device`. They are the total of all
        processes, so one process carries them (`carries_sums`) and the others start from zero."""
        return cls(step=progress["step"], lr=progress["epoch_lr"], seen=progress["epoch_seen"],
                   timed=progress["epoch_timed"], seconds=progress["epoch_seconds"],
                   shuffle_state=progress["random"]["shuffle"],
                   loss_sum=_saved_sum(progress["epoch_loss_sum"], device, carries_sums),
                   correct=_saved_sum(progress["epoch_correct"], device, carries_sums))


def _saved_sum(value: torch.Tensor | None, device: torch.device, carried: bool) -> torch.Tensor | None:
    """A saved running sum on `device`, or zero where another process carries it."""
    if value is None:
        return None
    return value.to(device) if carried else torch.zeros_like(value, device=device)
