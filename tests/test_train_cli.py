"""`cnnlab train` end to end on tiny shapes runs: the run directory, determinism, user errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cnnlab.rundir.records import METRIC_COLUMNS


def only_run(runs: Path) -> Path:
    found = [p for p in runs.glob("*/*") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def test_quickstart_spec_trains_and_leaves_a_complete_run_directory(cli, tmp_path):
    runs = tmp_path / "runs"
    quickstart = Path(__file__).parent.parent / "experiments" / "quickstart.yaml"
    result = cli("train", quickstart, "--runs-dir", runs, "--set", "data.dataset.train_size=400",
                 "--set", "data.dataset.test_size=100", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    assert "run completed" in result.output and "test acc" in result.output
    run = only_run(runs)
    assert run.parent.name == "quickstart"

    spec = yaml.safe_load((run / "spec.yaml").read_text())
    meta = json.loads((run / "meta.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").open()))

    assert spec["train"]["epochs"] == 2 and spec["data"]["dataset"]["train_size"] == 400
    assert meta["status"] == "completed" and meta["run_id"] == run.name and meta["ended"]
    assert {"cnnlab", "torch", "torchvision", "python"} <= set(meta["versions"])
    assert meta["device"] == "cpu" and meta["command"].startswith(f"cnnlab train {quickstart} --set data.dataset")
    assert list(rows[0]) == list(METRIC_COLUMNS) and [int(r["epoch"]) for r in rows] == [1, 2]
    assert summary["epochs_run"] == 2
    assert summary["best_val_acc"] == pytest.approx(max(float(r["val_acc"]) for r in rows), abs=1e-6)
    assert summary["final_train_loss"] == pytest.approx(float(rows[-1]["train_loss"]), rel=1e-5)
    assert summary["split_sizes"] == {"train": 360, "val": 40, "test": 100}
    assert 0 <= summary["test_acc"] <= 1 and summary["params"] > 0 and summary["macs"] > 0
    for name in ("last.pt", "best.pt"):
        state = torch.load(run / "checkpoints" / name, weights_only=True)
        assert set(state) >= {"model", "optimizer", "epoch", "metrics"}
    assert "epoch   2/2" in (run / "log.txt").read_text()
    assert not list(run.rglob("*.tmp")), "a temporary file was left behind"
    umask = os.umask(0)
    os.umask(umask)
    for path in (run / "spec.yaml", run / "meta.json", run / "metrics.csv", run / "checkpoints" / "best.pt"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, f"{path.name} is not readable as plain files are"


def test_same_spec_and_seed_give_identical_metrics(cli, tiny_spec, tmp_path):
    spec = tiny_spec()
    tables = []
    for runs in (tmp_path / "a", tmp_path / "b"):
        assert cli("train", spec, "--runs-dir", runs).exit_code == 0
        rows = list(csv.DictReader((only_run(runs) / "metrics.csv").open()))
        tables.append([{k: v for k, v in r.items() if k != "seconds"} for r in rows])
    assert tables[0] == tables[1]


def test_different_seed_gives_different_metrics(cli, tiny_spec, tmp_path):
    metrics = []
    for seed in (0, 1):
        runs = tmp_path / f"s{seed}"
        assert cli("train", tiny_spec(seed=seed), "--runs-dir", runs).exit_code == 0
        metrics.append((only_run(runs) / "metrics.csv").read_text().split("\n")[1])
    assert metrics[0] != metrics[1]


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(cli, tiny_spec, tmp_path):
    spec = tiny_spec(train={"epochs": 3, "batch_size": 32, "device": "cpu", "scheduler": "none",
                            "optimizer": {"name": "sgd", "lr": 1e12, "momentum": 0.0, "weight_decay": 0.0}},
                     model={**yaml.safe_load(tiny_spec().read_text())["model"], "norm": "none"})
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1
    assert "NaN or infinite" in result.output
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "meta.json").read_text())["status"] == "diverged"
    assert json.loads((run / "summary.json").read_text())["diverged"] is True


def test_dry_run_prints_spec_and_layers_and_trains_nothing(cli, tiny_spec, tmp_path):
    result = cli("train", tiny_spec(), "--dry-run", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "activation:" in result.output and "conv1" in result.output and "head" in result.output
    assert not (tmp_path / "runs").exists()


def test_dry_run_of_a_sweep_lists_its_runs(cli, tiny_spec):
    spec = tiny_spec(sweep={"model.activation": ["relu", "tanh"]}, seeds=[0, 1])
    result = cli("train", spec, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output and "tanh" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "model.conv[0].kernel_size=40"], r"model.conv[0] (layer conv1): "),
        (["--set", "model.activation=swish"], "model.activation: unknown activation 'swish'"),
        (["--set", "data.dataset=cifar11"], "data.dataset: unknown dataset 'cifar11'"),
        (["--set", "train.device=cuda:7"] if not torch.cuda.is_available() else ["--set", "train.device=cuda:99"],
         "train.device: cuda"),
        (["--set", "epochs=3"], 'epochs: unknown key'),
        (["--set", "train.epochs=0"], "train.epochs: Input should be greater than or equal to 1"),
        (["--set", "model.norm=instance", "--set", "model.conv[0].kernel_size=16", "--set", "model.conv[0].padding=0"],
         "model.norm (layer conv1_norm): instance norm on a 1×1 map"),
        (["--set", "data.val_fraction=0", "--set", "train.patience=2"],
         "train.patience: early stopping watches the validation split"),
    ],
)
def test_user_errors_are_one_line(cli, tiny_spec, tmp_path, args, expected):
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs", *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


def test_missing_spec_file(cli, tmp_path):
    result = cli("train", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and "nope.yaml: no such file" in result.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_runs_dir(cli, tiny_spec, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = cli("train", tiny_spec(), "--runs-dir", locked / "runs")
    assert result.exit_code == 2 and "not writable" in result.stderr


def test_runs_dir_that_is_a_file(cli, tiny_spec, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("train", tiny_spec(), "--runs-dir", blocker)
    assert result.exit_code == 2 and f"--runs-dir {blocker}: not writable" in result.stderr


def test_help_and_dry_run_do_not_import_torch(heavy_imports, tiny_spec):
    assert heavy_imports(["--help"], ["train", "--help"], ["compare", "--help"], ["eval", "--help"],
                         ["shape", "--help"], ["train", tiny_spec(), "--dry-run"]) == []


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "cnnlab", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("cnnlab ")


def test_early_stopping_on_the_monitored_metric(cli, tiny_spec, tmp_path):
    train = {"epochs": 6, "batch_size": 32, "device": "cpu", "patience": 1, "monitor": "val_loss",
             "min_delta": 100.0}  # no change of the loss is that large: epoch 2 does not improve on epoch 1
    model = yaml.safe_load(tiny_spec().read_text())["model"]
    result = cli("train", tiny_spec(train=train, model=model), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "early stopping: val_loss has not improved for 1 epochs" in result.output
    summary = json.loads((only_run(tmp_path / "runs") / "summary.json").read_text())
    assert summary["stopped_early"] is True and summary["epochs_run"] == 2 and summary["best_epoch"] == 1


def test_absent_dataset_with_download_off_is_refused_before_any_run(cli, tiny_spec, tmp_path):
    spec = tiny_spec(data={"dataset": "mnist", "root": str(tmp_path / "data"), "download": False})
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert "MNIST/raw/train-images-idx3-ubyte" in result.stderr and "shapes" in result.stderr
    assert not list((tmp_path / "runs").glob("*/*"))


@pytest.mark.slow
def test_the_quickstart_model_learns_and_zero_init_does_not(cli, tmp_path):
    """The lecture's point, as the quickstart shows it: a small CNN is far above chance on shapes within a
    few epochs, the same net with all weights zero stays at chance (1/8)."""
    quickstart = Path(__file__).parent.parent / "experiments" / "quickstart.yaml"
    small = ["--set", "data.dataset.train_size=2000", "--set", "data.dataset.test_size=400", "--set", "train.epochs=3"]
    accuracy = {}
    for init in ("kaiming_normal", "zeros"):
        runs = tmp_path / init
        assert cli("train", quickstart, "--runs-dir", runs, *small, "--set", f"model.init={init}").exit_code == 0
        accuracy[init] = json.loads((only_run(runs) / "summary.json").read_text())["test_acc"]
    assert accuracy["kaiming_normal"] > 0.5
    assert accuracy["zeros"] == pytest.approx(1 / 8, abs=0.03)
