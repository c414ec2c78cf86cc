"""The fast single-device path on the CPU: every train.precision validates and runs (fp32 and bf16 as
the issue asks, fp16 with its loss scale resumed exactly), the resolved precision and the rest of
how a run computed are recorded in meta.json, nothing reads the device inside an epoch unless a
live display asks, and train.deterministic / train.compile run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnnlab.data.pipeline import Batches, Normalizer, Split
from cnnlab.run.execute import execute_run
from cnnlab.run.signals import handle_signals
from cnnlab.rundir.store import RunStore
from cnnlab.spec import RunSpec, SpecError, resolve
from cnnlab.train.loop import Trainer
from cnnlab.train.precision import PRECISIONS, resolve_precision
from cnnlab.train.progress import LogReporter
from tests.conftest import TINY
from tests.test_resume import SignalAt, assert_same_state

CPU = torch.device("cpu")


def spec_with(**train):
    return resolve({**TINY, "train": {**TINY["train"], **train}})


def train(runs: Path, reporter=LogReporter, resume: Path | None = None, **train):
    with handle_signals():
        return execute_run(RunSpec(spec_with(**train)), runs, reporter, command=["test"], resume=resume)


def meta(run: Path) -> dict:
    return json.loads((run / "meta.json").read_text())


@pytest.mark.parametrize("name", PRECISIONS.names())
def test_every_precision_validates_and_resolves_on_the_cpu(name):
    assert spec_with(precision=name).train.precision == name
    assert resolve_precision(name, CPU).name == ("fp32" if name == "auto" else name)  # auto: fp32 on a CPU


def test_an_unknown_precision_is_one_line_naming_the_key():
    with pytest.raises(SpecError, match=r"train\.precision: .*bf61.*did you mean \"bf16\"") as err:
        spec_with(precision="bf61")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fp32_and_bf16_train_on_the_cpu_and_meta_json_says_how(tmp_path, precision):
    outcome = train(tmp_path, precision=precision)
    assert outcome.status == "completed", outcome.error
    compute = meta(outcome.path)["compute"]
    assert compute == {"precision": precision, "channels_last": True, "compiled": False, "deterministic": False,
                       "cudnn_benchmark": False, "world_size": 1, "backend": None, "sync_bn": False}
    assert outcome.summary.test_acc is not None and outcome.summary.compile_seconds is None
    assert outcome.summary.peak_gpu_memory is None


def test_bf16_autocast_changes_the_last_digits_not_the_learning(tmp_path):
    fp32, bf16 = (train(tmp_path / p, precision=p, epochs=3) for p in ("fp32", "bf16"))
    assert fp32.summary.final_train_loss != bf16.summary.final_train_loss  # autocast did compute in bf16
    assert bf16.summary.final_train_loss == pytest.approx(fp32.summary.final_train_loss, abs=0.05)


def test_an_fp16_run_resumes_exactly_with_its_loss_scale(tmp_path):
    """The loss scale is part of the state (it decides which steps are skipped): last.pt keeps it."""
    reference = train(tmp_path / "reference", precision="fp16", epochs=3)
    stopped = train(tmp_path / "resumed", lambda store: SignalAt(store, 2, 4), precision="fp16", epochs=3)
    assert stopped.status == "interrupted"
    assert "scaler" in torch.load(stopped.path / "checkpoints" / "last.pt", weights_only=True)
    resumed = train(tmp_path / "resumed", resume=stopped.path, precision="fp16", epochs=3)
    assert resumed.status == "completed"
    for name in ("last.pt", "best.pt"):
        want, got = (torch.load(run.path / "checkpoints" / name, weights_only=True) for run in (reference, resumed))
        assert_same_state(want["model"], got["model"])
        assert want["scaler"] == got["scaler"]


def test_a_resume_continues_in_the_precision_the_run_recorded(tmp_path):
    """`auto` resolves by device, and a resume may change the device: the run keeps its precision."""
    stopped = train(tmp_path, lambda store: SignalAt(store, 1, None), epochs=2)
    recorded = meta(stopped.path)
    recorded["compute"]["precision"] = "bf16"  # as if it had started on a GPU with bf16
    (stopped.path / "meta.json").write_text(json.dumps(recorded))
    resumed = train(tmp_path, resume=stopped.path, epochs=2)
    assert resumed.status == "completed" and meta(resumed.path)["compute"]["precision"] == "bf16"


def test_deterministic_runs_on_the_cpu_and_gives_the_same_numbers(tmp_path):
    try:
        runs = [train(tmp_path / str(i), deterministic=flag) for i, flag in enumerate((True, False))]
    finally:
        torch.use_deterministic_algorithms(False)
    assert all(run.status == "completed" for run in runs)
    assert meta(runs[0].path)["compute"]["deterministic"] is True
    assert runs[0].summary.final_train_loss == runs[1].summary.final_train_loss  # CPU kernels are anyway


class Reads:
    """Counts the values read back from tensors (each one a wait for the device on a GPU)."""

    def __init__(self, monkeypatch) -> None:
        self.count = 0
        for name in ("item", "tolist", "__float__", "__int__", "__bool__"):
            original = getattr(torch.Tensor, name)
            monkeypatch.setattr(torch.Tensor, name, self._counting(original))

    def _counting(self, original):
        def read(tensor, *args):
            self.count += 1
            return original(tensor, *args)

        return read


@pytest.mark.parametrize(("refresh", "reads"), [(0, 1), (3, 1 + 8 // 3)])
def test_an_epoch_reads_nothing_from_the_device_but_what_the_display_asks(tmp_path, monkeypatch, refresh, reads):
    """The running loss and accuracy stay on the device: one read at the epoch's end, and one every
    `refresh_steps` steps for a live display (9 steps: steps 3 and 6, then the end); the percentiles
    of distributions.csv one each time they are recorded (every train.diagnostics.steps = 4 steps:
    steps 4 and 8). Augmentation, batch norm, dropout, SGD and the schedule read nothing (Adam keeps
    its step count on the host, a read without a wait, unless it is fused, as cnnlab builds it on a GPU)."""

    class Live(LogReporter):
        def refresh_steps(self, batches: int) -> int:
            return refresh

    store = RunStore.create(tmp_path, "tiny", lambda: "run")
    spec = resolve({**TINY, "data": {**TINY["data"], "augment": ["random_crop", "hflip"]},
                    "model": {**TINY["model"], "norm": "batch", "dropout": 0.2},
                    "train": {**TINY["train"], "scheduler": "onecycle", "diagnostics": {"steps": 4}}})
    trainer = Trainer(spec, store, Live(store))
    trainer.setup()
    assert trainer.train_batches.steps_per_epoch == 9
    counted = Reads(monkeypatch)
    trainer.train_epoch(1)
    assert counted.count == reads + 2


@pytest.mark.parametrize(("images", "batch", "processes", "steps"),
                         [(65, 32, 1, 2), (66, 32, 1, 3), (66, 32, 4, 2), (68, 32, 4, 3), (1, 32, 2, 1)])
def test_a_last_batch_too_small_to_share_is_skipped(images, batch, processes, steps):
    """Every process needs an image of each batch (and batch norm two): a smaller last batch is left out,
    and the step count of the schedule and of the progress bar agrees."""
    from cnnlab.data.pipeline import Shard

    split = Split(torch.zeros(images, 1, 4, 4, dtype=torch.uint8), torch.zeros(images, dtype=torch.int64))
    for rank in range(processes):
        batches = Batches(split, Normalizer((0.0,), (1.0,)), batch, False, Shard(rank, processes))
        assert batches.steps_per_epoch == steps == len(list(batches.shuffled(torch.Generator().manual_seed(0))))


@pytest.mark.slow
def test_compile_times_its_warm_up_apart_and_computes_what_eager_does(tmp_path):
    """torch.compile (on the CPU here: slow to compile, as on a GPU): the first step's compilation is
    reported as compile_seconds and left out of images/s; the numbers are those of the eager model."""
    eager, compiled = train(tmp_path / "eager"), train(tmp_path / "compiled", compile=True)
    assert compiled.status == "completed", compiled.error
    assert meta(compiled.path)["compute"]["compiled"] is True
    s = compiled.summary
    assert s.compile_seconds > 0 and s.train_seconds < s.compile_seconds  # a tiny run trains in far less
    assert s.images_per_second == pytest.approx((288 * 2 - 32) / s.train_seconds, rel=0.02)  # not the first step's
    assert s.final_train_loss == pytest.approx(eager.summary.final_train_loss, abs=1e-4)
    assert s.test_acc == pytest.approx(eager.summary.test_acc, abs=0.02)
