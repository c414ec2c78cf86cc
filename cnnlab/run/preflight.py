"""Before any run exists: every run's layers fit its input, its batches can be normalized, its data
split leaves training images, its model fits in the machine's memory (cnnlab.run.memory_fit) and
what it writes can be written (train.tensorboard's extra); and the warnings its layers call for.
Torch-free: the layer arithmetic of cnnlab.shape and what each dataset entry declares."""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab.data.resolve import check_training_split, dataset_info, preloaded_images
from cnnlab.run.memory_fit import check_memory
from cnnlab.shape.advice import distinct, layer_warnings
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_keyed_plan, check_batch_statistics
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
        plan, keys = build_keyed_plan(spec.model, info)
        check_batch_statistics(plan, info, spec.train.batch_size)
        check_training_split(spec.data)
        analysis = analyze(plan, info.shape)
        check_memory(analysis, keys, spec.data, spec.train, preloaded_images(spec.data))
        found += layer_warnings(analysis)
    return distinct(found)

