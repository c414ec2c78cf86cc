"""`cnnlab eval`: a saved run's checkpoint on one split — accuracy, per-class accuracy, confusion.

The run's own spec.yaml rebuilds exactly its data (same seed: same validation split) and model
(cnnlab.run.saved_model); a file that is not one of cnnlab's checkpoints is one line saying what is
wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from cnnlab.data.pipeline import Batches, load_data
from cnnlab.run.saved_model import load_saved_model
from cnnlab.spec import SpecError
from cnnlab.train.device import resolve_device, uses_channels_last
from cnnlab.train.heads import HEADS


@dataclass(frozen=True)
class Evaluation:
    run: Path
    split: str
    checkpoint: str
    epoch: int
    classes: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    @property
    def total(self) -> int:
        return sum(map(sum, self.confusion))

    @property
    def accuracy(self) -> float:
        return sum(self.confusion[i][i] for i in range(len(self.classes))) / max(self.total, 1)

    def class_accuracy(self) -> list[float | None]:
        """Recall of every class (None for a class with no images in the split)."""
        return [row[i] / sum(row) if sum(row) else None for i, row in enumerate(self.confusion)]

    @property
    def balanced_accuracy(self) -> float:
        """The mean recall over the classes the split has (Brodersen et al. 2010): what summary.json's
        test_balanced_acc holds for the test split and best.pt."""
        recalls = [r for r in self.class_accuracy() if r is not None]
        return sum(recalls) / max(len(recalls), 1)

    def as_dict(self) -> dict:
        return {"run": str(self.run), "split": self.split, "checkpoint": self.checkpoint, "epoch": self.epoch,
                "images": self.total, "accuracy": self.accuracy, "balanced_accuracy": self.balanced_accuracy,
                "class_accuracy": dict(zip(self.classes, self.class_accuracy(), strict=True)),
                "classes": self.classes, "confusion": self.confusion}


def evaluate_run(run: Path, split: str, checkpoint: str, device: str) -> Evaluation:
    dev = resolve_device(device)
    saved = load_saved_model(run, checkpoint, dev)  # before the data: a bad file is reported at once
    spec, model = saved.spec, saved.model
    data = load_data(spec.data, spec.seed, dev)
    chosen = {"train": data.train, "val": data.val, "test": data.test}[split]
    if chosen is None:
        raise SpecError(f"--split val: this run has no validation split (data.val_fraction: {spec.data.val_fraction})")
    channels_last = uses_channels_last(spec.train.channels_last, saved.plan)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    head = HEADS.build(spec.model.head, data.info.num_classes)
    k = data.info.num_classes
    confusion = torch.zeros(k * k, dtype=torch.int64, device=dev)
    with torch.inference_mode():
        for x, y in Batches(chosen, data.normalizer, spec.train.batch_size, channels_last).in_order():
            confusion += torch.bincount(y * k + head.predict(model(x)), minlength=k * k)
    classes = list(data.info.class_names) if len(data.info.class_names) == k else [str(i) for i in range(k)]
    return Evaluation(run, split, checkpoint, saved.epoch, classes, confusion.view(k, k).tolist())
