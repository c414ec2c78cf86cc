"""Output heads: each registered head's outputs, loss and prediction against the formula."""

from __future__ import annotations

import math

import pytest
import torch

from cnnlab.data.resolve import dataset_info
from cnnlab.shape.plan import build_plan
from cnnlab.spec import SpecError, resolve
from cnnlab.train.heads import HEADS

LOGITS = torch.tensor([[2.0, -1.0, 0.5], [0.1, 0.3, -2.0]])
LABELS = torch.tensor([0, 1])


@pytest.mark.parametrize("name", HEADS.names())
def test_every_head_predicts_labels_and_gives_a_finite_loss(name):
    classes = 2 if name == "sigmoid" else 3
    head = HEADS.build(name, classes)
    logits = LOGITS[:, :head.outputs]
    assert head.predict(logits).dtype == torch.int64 and torch.isfinite(head.loss(logits, LABELS))
    assert head.loss(logits, LABELS, "sum") == pytest.approx(2 * head.loss(logits, LABELS).item())


def test_softmax_is_cross_entropy_of_the_softmax():
    expected = -sum(math.log(torch.softmax(LOGITS[i], 0)[LABELS[i]].item()) for i in range(2)) / 2
    assert HEADS.build("softmax", 3).loss(LOGITS, LABELS).item() == pytest.approx(expected)


def test_one_vs_rest_sums_one_binary_cross_entropy_per_class():
    """Each class's own sigmoid against 'this class or not': the probabilities need not sum to 1."""
    def bce(z, t):
        p = 1 / (1 + math.exp(-z))
        return -(t * math.log(p) + (1 - t) * math.log(1 - p))

    expected = sum(bce(LOGITS[i, c].item(), float(c == LABELS[i])) for i in range(2) for c in range(3)) / 2
    head = HEADS.build("sigmoid_ovr", 3)
    assert head.outputs == 3 and head.loss(LOGITS, LABELS).item() == pytest.approx(expected)
    assert head.predict(LOGITS).tolist() == [0, 1]


def test_the_layer_plan_asks_the_head_for_its_logits():
    def head_features(head: str, dataset: dict) -> int:
        spec = resolve({"data": {"dataset": dataset}, "model": {"head": head}})
        return dict(build_plan(spec.model, dataset_info(spec.data)))["head"].out_features

    assert head_features("sigmoid_ovr", {"name": "shapes"}) == 8 and head_features("softmax", {"name": "shapes"}) == 8
    with pytest.raises(SpecError, match="model.head: sigmoid is the binary output .* 8 classes; use head: softmax"):
        head_features("sigmoid", {"name": "shapes"})
    with pytest.raises(SpecError, match="model.head: unknown head 'logistic'"):
        resolve({"model": {"head": "logistic"}})
