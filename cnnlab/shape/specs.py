"""The models of a spec for `cnnlab shape EXP.yaml`: each distinct architecture among its runs, with
the runs that use it and a title that names what they share."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlab.errors import UsageError
from cnnlab.shape.analysis import analyze
from cnnlab.shape.layers import Plan, Shape, shape_text
from cnnlab.shape.report import Titled
from cnnlab.util.text import plural

if TYPE_CHECKING:
    from cnnlab.spec import Experiment


@dataclass
class Architecture:
    """One distinct model among a spec's runs."""

    input_shape: Shape
    num_classes: int
    plan: Plan
    runs: list[int] = field(default_factory=list)


def spec_architectures(experiment: Experiment, run: int | None) -> tuple[str, list, list[Architecture]]:
    """The experiment's name, its runs, and its distinct (input shape, plan) pairs with the runs using each."""
    from cnnlab.data.resolve import dataset_info
    from cnnlab.shape.plan import build_plan
    from cnnlab.spec import expand_runs

    runs = expand_runs(experiment)
    chosen = range(len(runs))
    if run is not None:
        if not 0 <= run < len(runs):
            raise UsageError(
                f"--run {run}: the spec has {plural(len(runs), 'run')}, numbered 0 to {len(runs) - 1}"
            )
        chosen = [run]
    found: list[Architecture] = []
    for i in chosen:
        info = dataset_info(runs[i].spec.data)
        plan = build_plan(runs[i].spec.model, info)
        same = next((a for a in found if a.plan == plan and a.input_shape == info.shape), None)
        if same is None:
            same = Architecture(info.shape, info.num_classes, plan)
            found.append(same)
        same.runs.append(i)
    return experiment.spec.name, runs, found


def _index_ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5] → '0–2, 5'."""
    spans: list[list[int]] = []
    for i in indices:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)


def architecture_title(name: str, runs: list, arch: Architecture) -> str:
    title = f"{name}: model for {shape_text(arch.input_shape)} inputs, {arch.num_classes} classes"
    if len(runs) == 1:
        return title
    swept = [runs[i].labels for i in arch.runs]
    common = [label for label in swept[0].values() if all(label in s.values() for s in swept)]
    settings = "".join(f", {label}" for label in common)
    which = f"run{'s' if len(arch.runs) > 1 else ''} {_index_ranges(arch.runs)} of {len(runs)}"
    return f"{title} ({which}{settings})"


def spec_analyses(path: Path, overrides: list[str], run: int | None) -> Titled:
    """The analysis of every distinct model of a spec file, titled."""
    from cnnlab.spec import load_experiment  # spec validation builds pydantic models, which the other forms skip

    return experiment_analyses(load_experiment(path, overrides), run)


def experiment_analyses(experiment: Experiment, run: int | None) -> Titled:
    """The analysis of every distinct model of an experiment (of run `run` only, if given), titled."""
    name, runs, archs = spec_architectures(experiment, run)
    return [(architecture_title(name, runs, a), analyze(a.plan, a.input_shape)) for a in archs]
