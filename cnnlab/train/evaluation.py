"""A whole split through the model in evaluation mode: mean loss, accuracy and balanced accuracy
(the trainer's validation after each epoch and its test pass on best.pt)."""

from __future__ import annotations

import torch

from cnnlab.data.pipeline import Batches
from cnnlab.train.engine import Engine
from cnnlab.train.heads import Head


def evaluate(engine: Engine, batches: Batches, head: Head, classes: int) -> tuple[float, float, float]:
    """(mean loss, accuracy, balanced accuracy) over a whole split, in evaluation mode (each process
    evaluates its part of every batch; the sums are taken over all of them). Balanced accuracy is the
    mean over the split's classes of the share of each class predicted right (Brodersen et al. 2010):
    1/classes for a constant answer however unequal the classes, where plain accuracy would give the
    largest class's share."""
    engine.model.eval()
    engine.world.sync_buffers(engine.model)  # rank 0's running statistics
    labels = batches.split.labels
    loss = torch.zeros((), device=labels.device, dtype=torch.float64)
    hits = torch.zeros(classes, device=labels.device, dtype=torch.int64)  # right answers per true class
    with torch.inference_mode():
        for x, y in batches.in_order():
            logits = engine.forward(x)
            loss += head.loss(logits, y, reduction="sum")
            hits.index_add_(0, y, (head.predict(logits) == y).long())
    total_loss, *class_hits = engine.world.totals(loss, *hits.unbind())
    counts = labels.bincount(minlength=classes).tolist()  # every process holds the whole split's labels
    recalls = [h / c for h, c in zip(class_hits, counts, strict=True) if c]
    n = len(batches.split)
    return total_loss / n, sum(class_hits) / n, sum(recalls) / len(recalls)
