"""Shared fixtures: a tiny shapes experiment that trains in a second or two, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.fixture
def tiny_spec(tmp_path: Path):
    """Write the tiny spec (with top-level keys replaced by `changes`) and return its path."""

    def write(name: str = "exp.yaml", **changes) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump({**TINY, **changes}, sort_keys=False))
        return path

    return write


@pytest.fixture
def cli():
    """Invoke `cnnlab ARGS...` in-process; returns the click Result (exit_code, stdout, stderr)."""
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)

    return invoke


HEAVY_MODULES = ("torch", "torchvision", "matplotlib", "PIL")

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
