"""A stopped run continued from its last checkpoint: checkpoints/last.pt into the trainer (under
torchrun, rank 0 reads it and sends it to the other processes), and the resumption's place recorded."""

from __future__ import annotations

from typing import Any

from cnnlab.rundir.checkpoint_file import LAST
from cnnlab.rundir.store import RunStore
from cnnlab.train import checkpoint


def restore_last(trainer: Any, store: RunStore, peers: Any) -> None:
    """Continue from last.pt, or from the start when the run never reached a checkpoint."""
    path = store.file(LAST)
    epoch = step = 0
    state = checkpoint.load(path, "cpu") if path.exists() else None  # random states must stay CPU tensors
    peers.tell(state)
    if state is not None:
        trainer.restore(state)  # the weights are copied onto the training device
        epoch, step = trainer.epoch, trainer.partial.step
    else:
        store.write_metrics([])
    meta = store.read_meta()
    last = meta.resumptions[-1].model_copy(update={"epoch": epoch, "step": step})
    store.update_meta(resumptions=[*meta.resumptions[:-1], last])
    epochs = trainer.train_spec.epochs
    trainer.reporter.message(f"resuming epoch {epoch + 1} of {epochs} at step {step}" if step else
                             f"resuming after epoch {epoch} of {epochs}")
