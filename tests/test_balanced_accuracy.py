"""Balanced accuracy (Brodersen et al. 2010): the mean over classes of each class's share predicted
right. With unequal classes (one shape against the seven others) plain accuracy rewards always
answering the larger class; summary.json, `cnnlab eval` and compare show the balanced figure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnlab.run.evaluate import Evaluation


def test_a_constant_answer_scores_one_over_the_classes_however_unequal_they_are():
    always_not = Evaluation(Path("run"), "test", "best", 1, ["not cat", "cat"], confusion=[[90, 0], [10, 0]])
    assert always_not.accuracy == pytest.approx(0.9) and always_not.balanced_accuracy == pytest.approx(0.5)
    three = Evaluation(Path("run"), "test", "best", 1, ["a", "b", "c"], confusion=[[8, 2, 0], [1, 3, 0], [0, 0, 0]])
    assert three.balanced_accuracy == pytest.approx((8 / 10 + 3 / 4) / 2)  # a class without images does not count


@pytest.fixture
def one_against_the_rest(cli, tiny_spec, tmp_path) -> Path:
    spec = tiny_spec(data={"dataset": {"name": "shapes", "image_size": 16, "train_size": 320, "test_size": 80},
                           "binary": {"positive": ["square"]}},
                     model={"conv": [{"out_channels": 4, "kernel_size": 3, "padding": 1}], "fc": [],
                            "global_pool": True, "head": "sigmoid"})
    assert cli("train", spec, "--runs-dir", tmp_path / "runs").exit_code == 0
    return next((tmp_path / "runs").glob("tiny/*"))


def test_summary_eval_and_compare_give_the_balanced_accuracy_of_unequal_classes(cli, one_against_the_rest,
                                                                                trained_balanced, monkeypatch):
    run = one_against_the_rest
    summary = json.loads((run / "summary.json").read_text())
    report = json.loads(cli("eval", run, "--format", "json", "--device", "cpu").stdout)
    recalls = [row[i] / sum(row) for i, row in enumerate(report["confusion"])]
    assert summary["test_balanced_acc"] == pytest.approx(sum(recalls) / 2)
    assert report["balanced_accuracy"] == pytest.approx(summary["test_balanced_acc"])
    assert summary["chance_acc"] == pytest.approx(7 / 8, abs=0.05)  # one shape of eight is positive
    monkeypatch.setenv("COLUMNS", "200")
    assert "test bal. acc %" in cli("compare", run).stdout
    assert "test bal. acc %" not in cli("compare", trained_balanced).stdout  # eight equal classes
    assert "test bal. acc %" in cli("compare", trained_balanced, "--metrics", "test_acc,test_balanced_acc").stdout


@pytest.fixture
def trained_balanced(cli, tiny_spec, tmp_path) -> Path:
    assert cli("train", tiny_spec("balanced.yaml"), "--runs-dir", tmp_path / "balanced").exit_code == 0
    run = next((tmp_path / "balanced").glob("tiny/*"))
    summary = json.loads((run / "summary.json").read_text())
    assert summary["test_balanced_acc"] == pytest.approx(summary["test_acc"])  # equal classes: the same figure
    return run
