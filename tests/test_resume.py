"""Exact resume: a run stopped by a signal (at an epoch boundary, or mid-epoch) and resumed from its
last.pt ends with exactly the weights, optimizer state and metrics of the run that was never stopped
(CPU, one thread). Dropout, augmentation, Adam and a one-cycle schedule make every random and
stateful part count."""

from __future__ import annotations

import csv
import json
import signal
from pathlib import Path

import pytest
import torch

from cnnlab.run.execute import execute_run
from cnnlab.run.signals import handle_signals
from cnnlab.spec import RunSpec, resolve
from cnnlab.train.progress import LogReporter
from tests.conftest import TINY

SPEC = {**TINY, "data": {**TINY["data"], "augment": ["random_crop", "hflip"]},
        "model": {**TINY["model"], "dropout": 0.2},
        "train": {**TINY["train"], "epochs": 3, "optimizer": {"name": "adam", "lr": 0.01},
                  "scheduler": {"name": "onecycle", "max_lr": 0.02}}}


class SignalAt(LogReporter):
    """Progress into the log, and SIGINT to this very process after `step` of `epoch` (None: at the end
    of the epoch, once its checkpoint is written)."""

    def __init__(self, store, epoch: int, step: int | None) -> None:
        super().__init__(store)
        self.at, self.step, self.epoch = epoch, step, 0

    def refresh_steps(self, batches: int) -> int:
        return 1  # batch_done after every step

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        super().epoch_started(epoch, epochs, batches)
        self.epoch = epoch

    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        if (self.epoch, done) == (self.at, self.step):
            signal.raise_signal(signal.SIGINT)

    def epoch_done(self, row) -> None:
        super().epoch_done(row)
        if self.step is None and row.epoch == self.at:
            signal.raise_signal(signal.SIGINT)


def train(runs: Path, reporter=LogReporter, resume: Path | None = None):
    with handle_signals():
        return execute_run(RunSpec(resolve(SPEC)), runs, reporter, command=["test"], resume=resume)


def metrics(run: Path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader((run / "metrics.csv").open())]


def diagnostics(run: Path) -> list[tuple[str, ...]]:
    """diagnostics.csv's rows as (epoch, layer, depth, activation, statistic, value)."""
    return [tuple(row) for row in csv.reader((run / "diagnostics.csv").open())]


def assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    outcome = train(tmp_path_factory.mktemp("reference"))
    assert outcome.status == "completed"
    return outcome.path


@pytest.mark.parametrize(("epoch", "step"), [(1, None), (2, 4)], ids=["epoch-boundary", "mid-epoch"])
def test_a_resumed_run_ends_exactly_as_an_uninterrupted_one(uninterrupted, tmp_path, epoch, step):
    stopped = train(tmp_path, lambda store: SignalAt(store, epoch, step))
    assert stopped.status == "interrupted"
    meta = json.loads((stopped.path / "meta.json").read_text())
    assert meta["status"] == "interrupted" and "cnnlab train --resume" in meta["error"]
    state = torch.load(stopped.path / "checkpoints" / "last.pt", weights_only=True)
    assert (state["epoch"], state["progress"]["step"]) == ((epoch, 0) if step is None else (epoch - 1, step))

    resumed = train(tmp_path, resume=stopped.path)
    assert resumed.status == "completed" and resumed.path == stopped.path
    for name in ("last.pt", "best.pt"):
        want = torch.load(uninterrupted / "checkpoints" / name, weights_only=True)
        got = torch.load(resumed.path / "checkpoints" / name, weights_only=True)
        assert_same_state(want["model"], got["model"])  # every parameter and buffer
        assert want["epoch"] == got["epoch"]
    want_opt = torch.load(uninterrupted / "checkpoints" / "last.pt", weights_only=True)["optimizer"]["state"]
    got_opt = torch.load(resumed.path / "checkpoints" / "last.pt", weights_only=True)["optimizer"]["state"]
    for key in want_opt:
        assert_same_state(want_opt[key], got_opt[key])
    assert metrics(resumed.path) == metrics(uninterrupted)
    assert diagnostics(resumed.path) == [row for row in diagnostics(uninterrupted)  # mid-epoch: no update ratio
                                         if step is None or row[::4] != ("2", "update_ratio")]
    assert (resumed.path / "distributions.csv").read_text() == (uninterrupted / "distributions.csv").read_text()
    summaries = [json.loads((run / "summary.json").read_text()) for run in (uninterrupted, resumed.path)]
    for key in ("test_acc", "test_loss", "best_epoch", "best_val_acc", "final_train_loss", "epochs_run"):
        assert summaries[0][key] == summaries[1][key], key
    meta = json.loads((resumed.path / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["error"] is None
    [resumption] = meta["resumptions"]
    assert resumption["status"] == "interrupted" and (resumption["epoch"], resumption["step"]) == \
        ((epoch, 0) if step is None else (epoch - 1, step))
