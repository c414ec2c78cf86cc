"""Output layers and their losses, by name (the spec's `model.head`).

- softmax: C logits, softmax, cross-entropy; predicts the largest. The multi-class output.
- sigmoid: one logit, sigmoid, binary cross-entropy; predicts class 1 when the logit is > 0. The binary
  output (two classes only: with a single logit there is nothing else to say).
- sigmoid_ovr: C logits, each its own sigmoid trained as "this class or not" (binary cross-entropy on
  the one-hot target, summed over the classes); predicts the largest. The lecture's "sigmoid for
  multi-class": the C probabilities need not sum to 1, nothing makes the classes compete.

An entry takes the number of classes (positional) and returns a Head; `Head.outputs` is what the
layer plan needs, so `cnnlab shape` asks this table without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnlab.lazy import F
from cnnlab.registry import Registry

HEADS = Registry("head")


@dataclass(frozen=True)
class Head:
    outputs: int  # logits the model's last layer produces
    loss_fn: Callable[[Any, Any, str], Any]  # (logits, labels, reduction) → loss
    predict: Callable[[Any], Any]  # logits → predicted labels

    def loss(self, logits, labels, reduction: str = "mean"):
        return self.loss_fn(logits, labels, reduction)

    def correct(self, logits, labels):
        return (self.predict(logits) == labels).sum()


def _largest(logits):
    return logits.argmax(1)


@HEADS.register("softmax", "C logits, softmax, cross-entropy (multi-class)")
def softmax(num_classes: int, /) -> Head:
    return Head(num_classes, lambda logits, labels, reduction: F.cross_entropy(logits, labels, reduction=reduction),
                _largest)


@HEADS.register("sigmoid", "1 logit, sigmoid, binary cross-entropy (two classes only)")
def sigmoid(num_classes: int, /) -> Head:
    if num_classes != 2:
        raise ValueError(f"sigmoid is the binary output (one logit) but the dataset has {num_classes} classes; "
                         "use head: softmax (or sigmoid_ovr for one sigmoid per class)")

    def loss(logits, labels, reduction):
        return F.binary_cross_entropy_with_logits(logits.squeeze(1), labels.float(), reduction=reduction)

    return Head(1, loss, lambda logits: (logits.squeeze(1) > 0).long())


@HEADS.register("sigmoid_ovr", "C logits, one sigmoid per class against the rest (BCE summed over classes)")
def sigmoid_ovr(num_classes: int, /) -> Head:
    def loss(logits, labels, reduction):
        per_image = F.binary_cross_entropy_with_logits(
            logits, F.one_hot(labels, num_classes).to(logits.dtype), reduction="none").sum(1)
        return per_image.sum() if reduction == "sum" else per_image.mean()

    return Head(num_classes, loss, _largest)
