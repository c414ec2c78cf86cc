"""Sweep expansion: one RunSpec per combination of swept values × seed."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cnnlab.spec.errors import SpecError
from cnnlab.spec.experiment import Experiment, RunSpec
from cnnlab.spec.labels import labels, value_label
from cnnlab.spec.overrides import apply_override
from cnnlab.spec.resolve import resolve
from cnnlab.spec.schema import EXPERIMENT_KEYS


def expand_runs(experiment: Experiment, seeds: Sequence[int] | None = None) -> list[RunSpec]:
    """One run per sweep combination × seed, in a stable order (the sweep's keys and values as
    written, then the seeds); `seeds` replaces the experiment's own.

    Combinations are applied to the spec as the user wrote it (like `--set`), so sweeping
    `model.preset` brings each preset's own values."""
    spec = experiment.spec
    keys = list(spec.sweep)
    seeds = seeds if seeds is not None else spec.seeds or [spec.seed]
    base = {k: v for k, v in experiment.raw.items() if k not in EXPERIMENT_KEYS}
    runs = []
    for indices in itertools.product(*(range(len(spec.sweep[k])) for k in keys)):
        index = dict(zip(keys, indices, strict=True))
        combo = {k: spec.sweep[k][i] for k, i in index.items()}
        for seed in seeds:
            try:
                run_raw = {**base, "seed": seed}
                for key, value in combo.items():
                    run_raw = apply_override(run_raw, key, value)
                run = resolve(run_raw)
            except SpecError as err:
                shown = ", ".join(f"{k}={value_label(v, index[k])}" for k, v in combo.items())
                raise SpecError(f"sweep combination {shown}: {err}") from None
            runs.append(RunSpec(run, combo, labels(combo, index), experiment.set_labels))
    return runs
