"""Shared fixtures: a tiny shapes experiment that trains in a second or two, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import settings
from typer.testing import CliRunner

from cnnlab.cli import app

# Property tests draw the same examples on every run (CI must not fail by luck); HYPOTHESIS_PROFILE=thorough
# explores with fresh random examples, many more of them.
settings.register_profile("default", derandomize=True, deadline=None, database=None)
settings.register_profile("thorough", max_examples=5000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

TINY = {
    "name": "tiny",
    "seed": 0,
    "data": {"dataset": {"name": "shapes", "image_size": 16, "train_size": 320, "test_size": 80}},
    "model": {
        "conv": [{"out_channels": 4, "kernel_size": 3, "padding": 1, "pool": {"type": "max", "kernel_size": 2}}],
        "fc": [16],
    },
    "train": {"epochs": 2, "batch_size": 32, "device": "cpu", "threads": 1},
}

WRITTEN = {  # what every meta.json holds from the run's creation on, for hand-made run directories of finished runs
    "started": "2026-11-28T00:00:00+00:00", "seed": 0, "swept": {}, "versions": {"cnnlab": "0.1.0"},
    "host": "test-host", "pid": 1, "heartbeat": "2026-11-28T00:00:02+00:00", "command": "cnnlab train tiny.yaml",
}


@pytest.fixture
def tiny_spec(tmp_path: Path):
    """Write the tiny spec (with top-level keys replaced by `changes`) and return its path."""

    def write(name: str = "exp.yaml", **changes) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({**TINY, **changes}, sort_keys=False))
        return path

    return write


@pytest.fixture(scope="session")
def ray_head():
    """The address of a Ray head (2 CPUs) of the tests' own, for the whole session."""
    from tests.ray_cluster import running_head

    yield from running_head(tempfile.mkdtemp(prefix="cnnlab-ray-"))  # short: Ray's socket paths must fit


@pytest.fixture
def cli():
    """Invoke `cnnlab ARGS...` in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


HEAVY_MODULES = ("torch", "torchvision", "matplotlib", "PIL", "ray")

_PROBE = """
import json, sys
from typer.testing import CliRunner
from cnnlab.cli import app
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[2])))))
"""


@pytest.fixture
def heavy_imports():
    """`heavy_imports([args], ...)`: run `cnnlab ARGS` for each invocation in one fresh interpreter and
    return the heavy packages (torch, matplotlib ...) it imported."""
    return _heavy_imports


def _heavy_imports(*invocations: list) -> list[str]:
    args = json.dumps([[str(a) for a in inv] for inv in invocations])
    done = subprocess.run([sys.executable, "-c", _PROBE, args, json.dumps(HEAVY_MODULES)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def make_run():
    """`make_run(group, seed=..., swept=..., test_acc=..., val_acc=[...], status=..., params=..., run_id=...)`:
    a run directory written through the run-record models (RunStore, RunMeta, MetricsRow, RunSummary), as the trainer
    writes it; returns its path. `experiment(group, sweep, claims, ...)` writes the group's sweep.yaml."""
    from cnnlab.rundir.records import MetricsRow, Monitor, RunMeta, RunSummary, epoch_figures
    from cnnlab.rundir.store import RunStore
    from cnnlab.spec import apply_override, resolve

    counter = iter(range(10**6))

    def write(group: Path, *, seed: int = 0, swept: dict | None = None, test_acc: float | None = 0.9,
              val_acc: list[float] | None = None, status: str = "completed", classes: int = 8,
              params: int | None = None, run_id: str | None = None) -> Path:
        swept = swept or {}
        raw = {**TINY, "name": group.name, "seed": seed}
        for key, value in swept.items():
            raw = apply_override(raw, key, value)
        spec = resolve(raw)
        run_id = run_id or f"run-{next(counter):04d}-s{seed}"
        store = RunStore.create(group.parent, group.name, lambda: run_id)
        store.write_yaml("spec.yaml", spec.resolved())
        val_acc = val_acc if val_acc is not None else [test_acc or 0.5] * 2
        rows = [MetricsRow(epoch=e, train_loss=1.0 / e, train_acc=0.5, val_loss=0.5, val_acc=acc, lr=0.1,
                           seconds=1.0) for e, acc in enumerate(val_acc, start=1)]
        store.write_metrics(rows)
        store.write("meta.json", RunMeta(**{**WRITTEN, "status": status, "run_id": store.path.name, "name": group.name,
                                            "seed": seed, "swept": swept, "duration_s": 2.0, "machine": "test machine",
                                            "started": f"2026-11-28T00:00:{next(counter) % 60:02d}"}))
        if status in ("completed", "diverged"):
            store.write("summary.json", RunSummary(**epoch_figures(rows, Monitor()), test_acc=test_acc, params=params,
                                                   chance_acc=1 / classes, classes=[str(c) for c in range(classes)]))
        return store.path

    return write
