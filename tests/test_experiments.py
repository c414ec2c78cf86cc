"""Every ready-made spec in experiments/ is valid, and every run it makes fits its input — as written
and offline on the built-in shapes dataset."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.run.preflight import preflight
from cnnlab.spec import expand_runs, load_experiment, load_spec

EXPERIMENTS = sorted((Path(__file__).parent.parent / "experiments").glob("*.yaml"))


def test_the_lecture_topics_are_all_there():
    names = {p.stem for p in EXPERIMENTS}
    assert {"quickstart", "lenet5_mnist", "activations", "init", "normalization", "input_norm", "conv_hparams",
            "pooling", "depth", "fc_vs_conv", "lenet5", "glorot", "ioffe_bn", "he_depth30"} <= names


def test_the_lecture_script_trains_every_experiment_with_claims():
    """experiments/lecture.sh, which regenerates experiments/results, leaves none of them out."""
    script = EXPERIMENTS[0].parent / "lecture.sh"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    text = script.read_text()
    listed = {name for group in ("LECTURE", "PAPERS") for name in re.search(f'{group}="([^"]*)"', text)[1].split()}
    assert listed == {p.stem for p in EXPERIMENTS if "claims" in yaml.safe_load(p.read_text())}


def test_the_lecture_script_fails_on_a_failed_run_but_keeps_a_diverged_one(make_run, tmp_path):
    """The script tells the two apart (`cnnlab train` exits 1 for both) by the failed runs that
    `cnnlab compare` lists: a header line only when none failed."""
    check = ["--where", "status=failed", "--format", "csv", "--no-aggregate"]
    assert " ".join(check) in (EXPERIMENTS[0].parent / "lecture.sh").read_text()
    group = tmp_path / "runs" / "exp"
    make_run(group, seed=0, status="diverged", test_acc=None)
    make_run(group, seed=1)
    assert not CliRunner().invoke(app, ["compare", str(group), *check]).stdout.strip().splitlines()[1:]
    make_run(group, seed=2, status="failed")
    assert len(CliRunner().invoke(app, ["compare", str(group), *check]).stdout.strip().splitlines()[1:]) == 1


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
@pytest.mark.parametrize("overrides", [[], ["data.dataset=shapes"]], ids=["as-written", "offline"])
def test_experiment_is_valid_and_fits(path, overrides):
    runs = expand_runs(load_experiment(path, overrides))
    preflight(runs)
    spec = load_spec(path, overrides)
    if spec.sweep:
        assert len(runs) == len(spec.seeds or [0]) * _product(len(v) for v in spec.sweep.values())
        assert len({r.spec.model_dump_json() for r in runs}) == len(runs), "two runs of the sweep are the same"


def _product(numbers) -> int:
    out = 1
    for n in numbers:
        out *= n
    return out
