"""The GPU path, on a CUDA GPU (skipped without one; `pytest -m cuda` on a GPU machine): the model, the
data (uint8) and the batches live on the GPU; auto precision is bf16 under autocast where the GPU has
it; conv nets train channels-last; cuDNN autotunes unless train.deterministic; a run trained on the
GPU reloads, evaluates and resumes on the CPU; compile times its warm-up apart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from cnnlab.run.execute import execute_run
from cnnlab.run.signals import handle_signals
from cnnlab.rundir.store import RunStore
from cnnlab.spec import RunSpec, resolve
from cnnlab.train import checkpoint
from cnnlab.train.loop import Trainer
from cnnlab.train.precision import has_bf16
from cnnlab.train.progress import LogReporter
from tests.conftest import TINY
from tests.test_resume import SignalAt

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

GPU = {**TINY, "model": {**TINY["model"], "norm": "batch"}, "train": {**TINY["train"], "device": "cuda"}}


def spec_with(**train):
    return resolve({**GPU, "train": {**GPU["train"], **train}})


def train(runs: Path, reporter=LogReporter, resume: Path | None = None, **train):
    with handle_signals():
        return execute_run(RunSpec(spec_with(**train)), runs, reporter, command=["test"], resume=resume)


def trainer(tmp_path: Path, **train) -> Trainer:
    store = RunStore.create(tmp_path, "tiny", lambda: "run")
    t = Trainer(spec_with(**train), store, LogReporter(store))
    t.setup()
    return t


def test_model_data_and_batches_are_on_the_gpu(tmp_path):
    t = trainer(tmp_path)
    assert t.device.type == "cuda"
    assert all(p.device == t.device for p in t.model.parameters())
    assert t.data.train.images.device == t.device and t.data.train.images.dtype == torch.uint8
    x, y = next(iter(t.train_batches.shuffled(torch.Generator().manual_seed(0))))
    assert x.device == y.device == t.device and x.dtype == torch.float32
    assert t.optimizer.param_groups[0]["fused"] is True  # one kernel per update


def test_auto_precision_is_bf16_autocast_where_the_gpu_has_it(tmp_path):
    t = trainer(tmp_path)
    assert t.precision.name == ("bf16" if has_bf16(t.device) else "fp32")
    if t.precision.name == "bf16":
        x, _ = next(iter(t.train_batches.in_order()))
        t.model.eval()
        with torch.inference_mode():
            assert t.engine.forward(x).dtype == torch.bfloat16
        assert all(p.dtype == torch.float32 for p in t.model.parameters())  # the weights stay float32


def test_conv_nets_train_channels_last_and_cudnn_autotunes_unless_deterministic(tmp_path):
    t = trainer(tmp_path)
    assert t.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    x, _ = next(iter(t.train_batches.shuffled(torch.Generator().manual_seed(0))))
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    try:
        trainer(tmp_path / "deterministic", deterministic=True)
        assert not torch.backends.cudnn.benchmark and torch.backends.cudnn.deterministic
        assert torch.are_deterministic_algorithms_enabled()
    finally:
        torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("precision", ["auto", "fp16"])
def test_a_gpu_run_completes_and_records_how_it_computed(tmp_path, precision):
    outcome = train(tmp_path, precision=precision)
    assert outcome.status == "completed", outcome.error
    meta = json.loads((outcome.path / "meta.json").read_text())
    assert meta["device"].startswith("cuda") and meta["compute"]["cudnn_benchmark"] is True
    assert outcome.summary.peak_gpu_memory > 0


def test_a_gpu_checkpoint_reloads_evaluates_and_resumes_on_the_cpu(tmp_path, cli):
    stopped = train(tmp_path, lambda store: SignalAt(store, 1, None))
    assert stopped.status == "interrupted"
    precision = json.loads((stopped.path / "meta.json").read_text())["compute"]["precision"]
    state = checkpoint.load(stopped.path / "checkpoints" / "last.pt", "cpu")
    assert all(t.device.type == "cpu" for t in state["model"].values())
    result = cli("eval", stopped.path, "--checkpoint", "last", "--device", "cpu")
    assert result.exit_code == 0, result.output
    resumed = cli("train", "--resume", stopped.path, "--set", "train.device=cpu")
    assert resumed.exit_code == 0, resumed.output
    meta = json.loads((stopped.path / "meta.json").read_text())
    assert meta["status"] == "completed" and meta["device"] == "cpu"
    assert meta["compute"]["precision"] == precision  # a resume continues in the run's precision


def test_compile_on_the_gpu_times_its_warm_up_apart(tmp_path):
    outcome = train(tmp_path, compile=True)
    assert outcome.status == "completed", outcome.error
    assert outcome.summary.compile_seconds > 0 and outcome.summary.images_per_second > 0
