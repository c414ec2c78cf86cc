"""`cnnlab eval RUN` reproduces a run's own test accuracy from its directory alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest


@pytest.fixture
def trained_run(cli, tiny_spec, tmp_path):
    assert cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs").exit_code == 0
    return next((tmp_path / "runs").glob("tiny/*"))


def test_eval_matches_the_summary_and_adds_per_class_numbers(cli, trained_run):
    result = cli("eval", trained_run, "--format", "json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    summary = json.loads((trained_run / "summary.json").read_text())
    assert report["accuracy"] == pytest.approx(summary["test_acc"])
    assert report["images"] == summary["split_sizes"]["test"] and report["epoch"] == summary["best_epoch"]
    confusion = report["confusion"]
    assert len(confusion) == len(summary["classes"]) and sum(map(sum, confusion)) == report["images"]
    for name, row, acc in zip(report["classes"], confusion, report["class_accuracy"].values(), strict=True):
        assert acc == pytest.approx(row[report["classes"].index(name)] / sum(row))

    val = json.loads(cli("eval", trained_run, "--split", "val", "--format", "json").stdout)
    assert val["images"] == summary["split_sizes"]["val"]
    table = cli("eval", trained_run, "--checkpoint", "last")
    assert table.exit_code == 0 and "confusion matrix" in table.output and "horizontal_line" in table.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--split", "dev"], "error: Invalid value for '--split': 'dev' is not one of 'test', 'val', 'train'."),
        (["--checkpoint", "first"], "error: Invalid value for '--checkpoint': 'first' is not one of 'best', 'last'."),
    ],
)
def test_eval_option_errors(cli, trained_run, args, expected):
    result = cli("eval", trained_run, *args)
    assert result.exit_code == 2 and expected in result.stderr


def test_eval_of_something_that_is_not_a_run(cli, tmp_path):
    result = cli("eval", tmp_path)
    assert result.exit_code == 2 and "no runs here (a run directory holds meta.json or spec.yaml)" in result.stderr


@pytest.mark.parametrize("command", ["eval", "inspect", "compare", "ls"])
def test_a_spec_file_where_runs_are_expected_says_where_its_runs_are(cli, monkeypatch, tmp_path, command):
    monkeypatch.chdir(tmp_path)
    spec = Path("experiments") / "tiny.yaml"
    spec.parent.mkdir()
    spec.write_text("name: tiny\n")
    result = cli(command, spec)
    assert result.exit_code == 2
    assert result.stderr == (f"error: {spec} is a spec file, where a run or a runs folder was expected; cnnlab "
                             f"train puts its runs in runs/tiny/: name that folder or a run in it\n")


class Hostile:
    """Unpickled without weights_only, this would create a file (as any code could run)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def spoil(best: Path, how: str, tmp_path: Path) -> None:
    import torch

    if how == "garbage":
        best.write_bytes(b"not a checkpoint at all " * 40)
    elif how == "truncated":
        best.write_bytes(best.read_bytes()[:500])
    elif how == "empty":
        best.write_bytes(b"")
    elif how == "hostile-pickle":
        torch.save({"model": Hostile(str(tmp_path / "pwned")), "epoch": 1}, best)
    elif how == "wrong-keys":
        torch.save({"weights": {}, "epoch": 1}, best)
    elif how == "newer-format":
        torch.save({**torch.load(best, weights_only=True), "format": 3}, best)
    elif how == "other-architecture":
        torch.save({"model": torch.nn.Linear(3, 2).state_dict(), "epoch": 1}, best)
    elif how == "unreadable":  # a directory where the file should be: unreadable even for root
        best.unlink()
        best.mkdir()
    elif how == "fifo":  # that no process writes: reading it would wait forever
        best.unlink()
        os.mkfifo(best)


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("garbage", "not a readable checkpoint (not a PyTorch checkpoint)"),
        ("truncated", "not a readable checkpoint (truncated or damaged)"),
        ("empty", "not a readable checkpoint (empty or cut short)"),
        ("hostile-pickle", "holds objects other than tensors and plain data (it would construct"),
        ("wrong-keys", "not a cnnlab checkpoint (expected a mapping with model weights and an epoch)"),
        ("newer-format", "written by a newer cnnlab (checkpoint format 3; this one reads 2): upgrade cnnlab"),
        ("other-architecture", "its weights do not fit this run's model (Missing key(s) in state_dict"),
        ("unreadable", "a directory, not a regular file (cnnlab reads only regular files)"),
        ("fifo", "a FIFO, not a regular file (cnnlab reads only regular files)"),
    ],
)
def test_eval_of_a_bad_checkpoint_is_one_line(cli, trained_run, tmp_path, how, expected):
    best = trained_run / "checkpoints" / "best.pt"
    spoil(best, how, tmp_path)
    result = cli("eval", trained_run, "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {best}: {expected}") and result.stderr.count("\n") == 1
    assert "weights_only" not in result.output
    assert not (tmp_path / "pwned").exists()
