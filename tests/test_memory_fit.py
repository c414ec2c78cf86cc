"""Sizes no machine can hold are refused before any run directory exists, in one line naming the key
that makes them: a model's weights, one batch's activations, the images it preloads, against the
machine's memory or its GPU's."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnlab.run import memory_fit
from cnnlab.run.preflight import preflight
from cnnlab.spec import RunSpec, load_spec
from cnnlab.util.memory import machine_memory

HUGE = 9223372036854775807  # 2**63 - 1: the largest integer a spec holds
QUICKSTART = Path(__file__).parent.parent / "experiments" / "quickstart.yaml"


@pytest.mark.parametrize(("override", "expected"), [
    (f"model.conv[0].out_channels={HUGE}", "model.conv[0] (layer conv1): its 83,010,348,331,692,982,263 parameters "
                                            "need 288.0 EiB, more than this machine's memory ("),
    (f"model.fc=[{HUGE}]", "model.fc[0] (layer fc1): its "),
    (f"model.conv[0].kernel_size={HUGE}", "model.conv[0] (layer conv1): its "),
    (f"data.pad={HUGE}", f"data.pad: the values of one 1×{2 * HUGE + 28}×{2 * HUGE + 28} image need "),
    (f"data.dataset.image_size={HUGE}", f"data.dataset.image_size: one {HUGE}×{HUGE} image needs "),
    (f"train.batch_size={HUGE}", f"train.batch_size: one batch of {HUGE:,} 1×28×28 images need "),
    ("model.conv[0].out_channels=1000000", "model.conv[0] (layer conv1): its 1000000×28×28 outputs for one batch of "
                                           "64 need 186.9 GiB"),
    ("data.dataset.train_size=100000000000", "data.dataset: its 100,000,002,000 images of 1×28×28, preloaded, need"),
])
def test_an_impossible_size_is_one_line_naming_its_key_before_any_run(cli, tmp_path, monkeypatch, override, expected):
    monkeypatch.setattr(memory_fit, "machine_memory", lambda: 64 << 30)  # a machine of 64 GiB, whatever runs this
    monkeypatch.setattr(memory_fit, "gpu_memory", lambda: None)
    for dry in (["--dry-run"], []):
        result = cli("train", QUICKSTART, "--set", override, "--runs-dir", tmp_path / "runs", *dry)
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"error: {expected}") and result.stderr.count("\n") == 1, result.stderr
        assert not (tmp_path / "runs").exists()


def test_on_a_gpu_the_gpus_memory_is_the_bound(cli, tmp_path, monkeypatch):
    monkeypatch.setattr(memory_fit, "machine_memory", lambda: 64 << 30)
    monkeypatch.setattr(memory_fit, "gpu_memory", lambda: 1 << 30)  # a 1 GiB GPU
    args = ["train", QUICKSTART, "--set", "model.fc=[1000000]", "--dry-run"]
    result = cli(*args, "--set", "train.device=cuda")
    assert result.exit_code == 2
    assert result.stderr == ("error: model.fc[0] (layer fc1): its 1,569,000,000 parameters need 5.8 GiB, more than the "
                             "GPU's memory (1.0 GiB)\n")
    assert cli(*args, "--set", "train.device=cpu").exit_code == 0  # the machine has room for it


def test_what_fits_passes_and_the_machine_says_its_memory():
    assert machine_memory() > 1 << 28  # the test machine's, read from the system (and a cgroup limit)
    assert preflight([RunSpec(load_spec(QUICKSTART))]) == []
