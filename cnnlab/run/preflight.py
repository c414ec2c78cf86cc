"""Before any run exists: every run's layers fit its input, its batches can be normalized, its
data split leaves training images and what it writes can be written (train.tensorboard's extra); and
the warnings its layers call for. Torch-free: the layer arithmetic of cnnlab.shape and what each
dataset entry declares."""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab.data.resolve import check_training_split, dataset_info
from cnnlab.shape.advice import distinct, layer_warnings
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan, check_batch_statistics
from cnnlab.spec import RunSpec
from cnnlab.util.extras import require


def preflight(runs: Sequence[RunSpec]) -> list[str]:
    """Fails on the first impossible run, naming it; returns the teaching warnings of their layers,
    each once. Runs that differ only in their seed (or in nothing the model depends on) are
    analysed once."""
    if any(run.spec.train.tensorboard for run in runs):
        require("tensorboard", "train.tensorboard: true")
    found, seen = [], set()
    for run in runs:
        spec = run.spec
        key = (spec.model.model_dump_json(), spec.data.model_dump_json(), spec.train.batch_size)
        if key in seen:
            continue
        seen.add(key)
        info = dataset_info(spec.data)
        plan = build_plan(spec.model, info)
        check_batch_statistics(plan, info, spec.train.batch_size)
        check_training_split(spec.data)
        found += layer_warnings(analyze(plan, info.shape))
    return distinct(found)

