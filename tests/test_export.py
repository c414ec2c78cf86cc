"""`cnnlab export` read back by the tools' own readers: TensorBoard's EventAccumulator (and the stream
train.tensorboard writes while training), MlflowClient over a real sqlite store, onnxruntime; exporting
twice changes nothing; a missing extra is one line naming its pip install."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import cnnlab
from cnnlab.cli import app
from cnnlab.rundir.csv_files import parse_diagnostics, parse_distributions
from cnnlab.rundir.records import MetricsRow, histogram_rows
from cnnlab.rundir.store import RunStore
from tests.conftest import TINY

SWEEP = {**TINY, "name": "exported", "data": {**TINY["data"], "pad": 2},
         "train": {**TINY["train"], "tensorboard": True}, "sweep": {"model.activation": ["relu", "tanh"]}}


def cnnlab_cli(*args: object):
    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    """2 trained runs (padded input, the TensorBoard stream on), shared by this module's tests, which
    only read them."""
    root = tmp_path_factory.mktemp("export")
    spec = root / "exported.yaml"
    spec.write_text(yaml.safe_dump(SWEEP, sort_keys=False))
    assert cnnlab_cli("train", spec, "--runs-dir", root / "runs").exit_code == 0
    return root / "runs" / "exported"


def accumulated(folder: Path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0})
    events.Reload()
    return events


def scalars(events, tag: str) -> list[tuple[int, float]]:
    return [(s.step, s.value) for s in events.Scalars(tag)]


def hparams_data(events):
    from tensorboard.plugins.hparams import plugin_data_pb2

    return {tag: plugin_data_pb2.HParamsPluginData.FromString(content)
            for tag, content in events.PluginTagToContent("hparams").items()}


def test_tensorboard_holds_every_epoch_layer_and_the_hparams_sessions(sweep, tmp_path):
    result = cnnlab_cli("export", "tensorboard", sweep, "--out", tmp_path / "tb")
    assert result.exit_code == 0 and result.stdout == f"wrote 2 runs into {tmp_path / 'tb'} (tensorboard --logdir " \
                                                      f"{tmp_path / 'tb'})\n"
    for run in sorted(p for p in sweep.iterdir() if p.is_dir()):
        exported = accumulated(tmp_path / "tb" / "exported" / run.name)
        metrics = pd.read_csv(run / "metrics.csv")
        for column, tag in (("train_loss", "loss/train"), ("val_acc", "accuracy/val"), ("lr", "learning_rate")):
            expected = zip(metrics.epoch, metrics[column], strict=True)
            assert scalars(exported, tag) == [(e, pytest.approx(v, rel=1e-6)) for e, v in expected]
        rows = parse_diagnostics((run / "diagnostics.csv").read_text(), run)
        grad = [(r.epoch, pytest.approx(r.value, rel=1e-6)) for r in rows
                if r.statistic == "grad_rms" and r.layer == "conv1"]
        assert scalars(exported, "diagnostics/grad_rms/conv1") == grad and grad[0][0] == 0
        summary = json.loads((run / "summary.json").read_text())
        assert scalars(exported, "summary/test_acc") == [(2, pytest.approx(summary["test_acc"]))]
        meta = json.loads((run / "meta.json").read_text())
        session = hparams_data(exported)
        start = session["_hparams_/session_start_info"].session_start_info
        assert start.hparams["model.activation"].string_value == meta["swept"]["model.activation"]
        assert start.hparams["seed"].number_value == 0 and start.group_name.endswith(
            f"model.activation={meta['swept']['model.activation']}")
        assert session["_hparams_/session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS

        streamed = accumulated(run / "tensorboard")  # train.tensorboard: the same, written as it trained
        assert sorted(streamed.Tags()["scalars"]) == sorted(exported.Tags()["scalars"])
        for tag in ("accuracy/val", "diagnostics/grad_rms/conv1", "summary/test_acc"):  # the CSV files: 6 digits
            assert scalars(streamed, tag) == [(e, pytest.approx(v, rel=1e-5)) for e, v in scalars(exported, tag)]
        assert set(hparams_data(streamed)) == set(session)
        for events in (exported, streamed):
            assert_histograms(events, run)
    columns = hparams_data(accumulated(tmp_path / "tb"))["_hparams_/experiment"].experiment
    infos = {info.name: [v.string_value or v.number_value for v in info.domain_discrete.values]
             for info in columns.hparam_infos}
    assert infos == {"model.activation": ["relu", "tanh"], "seed": [0]}
    assert "summary/test_acc" in [m.name.tag for m in columns.metric_infos]


def assert_histograms(events, run: Path) -> None:
    """Every histogram of distributions.csv, at its epoch: its range, its 50 masses as the buckets."""
    rows = histogram_rows(parse_distributions((run / "distributions.csv").read_text(), run))
    recorded: dict[tuple[str, str, int], dict[str, float]] = {}
    for row in rows:
        recorded.setdefault((row.quantity, row.layer, row.epoch), {})[row.statistic] = row.value
    tags = {(quantity, layer) for quantity, layer, _ in recorded}
    assert {("activation", "conv1"), ("gradient", "conv1")} <= tags
    assert sorted(events.Tags()["histograms"]) == sorted(f"histograms/{q}/{layer}" for q, layer in tags)
    for quantity, layer in tags:
        drawn = {h.step: h.histogram_value for h in events.Histograms(f"histograms/{quantity}/{layer}")}
        epochs = sorted(epoch for q, name, epoch in recorded if (q, name) == (quantity, layer))
        assert sorted(drawn) == epochs and epochs[0] == 0
        for epoch in epochs:
            stats, value = recorded[(quantity, layer, epoch)], drawn[epoch]
            # the stream holds the values the CSV file rounds to 6 digits
            assert value.min == pytest.approx(stats["low"], rel=1e-5)
            assert value.max == pytest.approx(stats["high"], rel=1e-5)
            masses = [stats[f"bin{i}"] for i in range(50)]
            assert list(value.bucket) == pytest.approx(masses, abs=1e-6) and value.num == pytest.approx(1, abs=1e-5)
            assert value.bucket_limit[-1] == pytest.approx(stats["high"], rel=1e-5)


def test_a_resumed_run_streams_each_epoch_once(tmp_path):
    """The stream of a run stopped after epoch 1 and resumed starts anew from the checkpoint: one file,
    each epoch once, and the session's end."""
    from cnnlab.run.execute import execute_run
    from cnnlab.run.signals import handle_signals
    from cnnlab.spec import RunSpec, resolve
    from cnnlab.train.progress import LogReporter
    from tests.test_resume import SignalAt

    run = RunSpec(resolve({**TINY, "train": {**TINY["train"], "tensorboard": True}}))
    with handle_signals():
        stopped = execute_run(run, tmp_path, lambda store: SignalAt(store, 1, None), command=["test"])
    assert stopped.status == "interrupted"
    assert [step for step, _ in scalars(accumulated(stopped.path / "tensorboard"), "accuracy/val")] == [1]
    with handle_signals():
        resumed = execute_run(run, tmp_path, LogReporter, command=["test"], resume=stopped.path)
    assert resumed.status == "completed"
    streamed = accumulated(resumed.path / "tensorboard")
    assert len(list((resumed.path / "tensorboard").iterdir())) == 1
    metrics = pd.read_csv(resumed.path / "metrics.csv")
    expected = zip(metrics.epoch, metrics.val_acc, strict=True)
    assert scalars(streamed, "accuracy/val") == [(e, pytest.approx(v, rel=1e-5)) for e, v in expected]
    assert hparams_data(streamed)["_hparams_/session_end_info"].session_end_info.status == 1  # STATUS_SUCCESS


def test_exporting_to_tensorboard_again_changes_nothing(sweep, tmp_path):
    def files() -> dict[str, bytes]:
        return {str(p.relative_to(tmp_path)): p.read_bytes() for p in sorted(tmp_path.rglob("*")) if p.is_file()}

    assert cnnlab_cli("export", "tensorboard", sweep, "--out", tmp_path / "tb").exit_code == 0
    first = files()
    assert cnnlab_cli("export", "tensorboard", sweep, "--out", tmp_path / "tb").exit_code == 0
    assert files() == first and len(first) == 3  # one file per run, and the HParams columns


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    """One sqlite tracking store for this module's tests, each in an MLflow experiment of its own (a new
    store's tables take MLflow seconds to make)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


def mlflow_runs(uri: str, experiment: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    return client, client.search_runs([client.get_experiment_by_name(experiment).experiment_id])


def test_mlflow_gets_one_run_per_run_and_a_reexport_duplicates_nothing(sweep, store, tmp_path):
    args = ["export", "mlflow", sweep, "--tracking-uri", store, "--artifact-location", tmp_path / "artifacts"]
    result = cnnlab_cli(*args, "--checkpoints")
    assert result.exit_code == 0 and result.stdout == f"2 runs into {store}: 2 created, 0 updated, 0 unchanged\n"
    client, runs = mlflow_runs(store, "exported")
    assert sorted(r.data.tags["cnnlab.run_id"] for r in runs) == sorted(p.name for p in sweep.iterdir() if p.is_dir())
    for run in runs:
        folder = sweep / run.data.tags["cnnlab.run_id"]
        assert run.info.status == "FINISHED" and run.data.tags["cnnlab.status"] == "completed"
        assert run.data.params["model.activation"] == run.info.run_name.split("-")[2]
        assert run.data.params["model.conv.0.kernel_size"] == "[3, 3]" and run.data.params["model.conv.len"] == "1"
        assert run.data.params["data.pad"] == "2" and run.data.params["train.tensorboard"] == "true"
        metrics = pd.read_csv(folder / "metrics.csv")
        history = client.get_metric_history(run.info.run_id, "val_acc")
        assert [(m.step, m.value) for m in history] == list(zip(metrics.epoch, metrics.val_acc, strict=True))
        summary = json.loads((folder / "summary.json").read_text())
        assert run.data.metrics["test_acc"] == pytest.approx(summary["test_acc"])
        artifacts = {a.path for folder_ in (None, "checkpoints") for a in client.list_artifacts(run.info.run_id,
                                                                                                  folder_)}
        assert {"spec.yaml", "summary.json", "checkpoints/best.pt"} <= artifacts

    again = cnnlab_cli(*args, "--checkpoints")
    assert again.stdout == f"2 runs into {store}: 0 created, 0 updated, 2 unchanged\n"
    client, runs_again = mlflow_runs(store, "exported")
    assert len(runs_again) == 2
    for run in runs_again:
        assert len(client.get_metric_history(run.info.run_id, "val_acc")) == 2


def test_a_reexport_adds_what_a_run_did_since(make_run, store, tmp_path):
    run = make_run(tmp_path / "runs" / "growing", status="interrupted", test_acc=None, val_acc=[0.3])
    args = ["export", "mlflow", tmp_path / "runs", "--tracking-uri", store, "--experiment", "mine",
            "--artifact-location", tmp_path / "artifacts"]
    (run / "checkpoints" / "best.pt").write_bytes(b"epoch 1")  # a resumed run may still improve it
    args.append("--checkpoints")
    assert cnnlab_cli(*args).stdout.endswith(": 1 created, 0 updated, 0 unchanged\n")
    client, [exported] = mlflow_runs(store, "mine")
    assert [a.path for a in client.list_artifacts(exported.info.run_id)] == ["spec.yaml"]
    (run / "checkpoints" / "best.pt").write_bytes(b"epoch 2")
    store_ = RunStore(run)
    store_.write_metrics([MetricsRow(epoch=e, train_loss=1.0, train_acc=0.5, val_acc=acc, seconds=1.0)
                          for e, acc in ((1, 0.3), (2, 0.6))])
    store_.update_meta(status="completed", ended="2026-11-28T00:01:00+00:00")
    assert cnnlab_cli(*args).stdout.endswith(": 0 created, 1 updated, 0 unchanged\n")
    client, runs = mlflow_runs(store, "mine")
    assert len(runs) == 1 and runs[0].info.status == "FINISHED" and runs[0].data.tags["cnnlab.status"] == "completed"
    assert [(m.step, m.value) for m in client.get_metric_history(runs[0].info.run_id, "val_acc")] == [(1, 0.3),
                                                                                                    (2, 0.6)]
    assert [a.path for a in client.list_artifacts(runs[0].info.run_id, "checkpoints")] == ["checkpoints/best.pt"]
    best = client.download_artifacts(runs[0].info.run_id, "checkpoints/best.pt", str(tmp_path))
    assert Path(best).read_bytes() == b"epoch 2"


@pytest.mark.slow
def test_onnx_takes_raw_images_and_gives_the_runs_logits(sweep, tmp_path):
    import onnx

    from cnnlab.data.pipeline import Batches, load_data
    from cnnlab.export.onnx import run_onnx

    run = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    out = tmp_path / "model.onnx"
    result = cnnlab_cli("export", "onnx", run, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"wrote {out} (opset ") and "on 80 test images" in result.stdout
    graph = onnx.load(out)
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, 16, 16]  # the shapes before data.pad: 2
    assert json.loads({p.key: p.value for p in graph.metadata_props}["cnnlab.classes"])[0] == "horizontal_line"

    model, spec = cnnlab.Run(run).load_model(), cnnlab.Run(run).spec
    data = load_data(spec.data, spec.seed, "cpu")
    images, _ = next(Batches(data.test, data.normalizer, 37, channels_last=False).in_order())
    raw = data.test.images[:37, :, 2:-2, 2:-2].float().numpy() / 255
    delta = np.abs(run_onnx(out, raw) - model(images).detach().numpy()).max()
    assert delta <= 1e-4, delta
    first = out.read_bytes()
    assert cnnlab_cli("export", "onnx", run, "--out", out).exit_code == 0 and out.read_bytes() == first

    fixed = tmp_path / "fixed.onnx"
    assert cnnlab_cli("export", "onnx", run, "--out", fixed, "--opset", 18, "--fixed-batch").exit_code == 0
    graph = onnx.load(fixed)
    assert [d.dim_value for d in graph.graph.input[0].type.tensor_type.shape.dim] == [1, 1, 16, 16]
    assert {o.domain: o.version for o in graph.opset_import}[""] == 18


@pytest.mark.parametrize(("command", "extra", "module"), [
    (["export", "tensorboard", "RUNS", "--out", "tb"], "tensorboard", "tensorboard"),
    (["export", "mlflow", "RUNS", "--tracking-uri", "sqlite:///x.db"], "mlflow", "alembic"),
    (["export", "onnx", "RUN"], "onnx", "onnxscript"),
])
def test_a_missing_extra_is_one_line_naming_its_pip_install(command, extra, module, sweep, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == module else real(name, *a))
    run = next(p for p in sweep.iterdir() if p.is_dir())
    args = [str(sweep) if a == "RUNS" else str(run) if a == "RUN" else a for a in command]
    result = cnnlab_cli(*args)
    assert result.exit_code == 2
    assert result.stderr == (f"error: cnnlab export {command[1]} needs {module}, which is not installed: "
                             f"pip install 'cnnlab[{extra}]'\n")
    assert list(tmp_path.iterdir()) == []


def test_a_destination_that_cannot_be_used_is_one_line(sweep, tmp_path):
    (tmp_path / "a-file").write_text("")
    run = next(p for p in sweep.iterdir() if p.is_dir())
    cases = {  # the command → the start of its one line
        ("tensorboard", sweep, "--out", tmp_path / "a-file" / "tb"):
            f"--out {tmp_path / 'a-file' / 'tb'}: cannot write (Not a directory: ",
        ("mlflow", sweep, "--tracking-uri", "foo://bar"): "--tracking-uri foo://bar: ",
        ("onnx", run, "--out", tmp_path / "missing" / "m.onnx"):
            f"--out {tmp_path / 'missing' / 'm.onnx'}: folder {tmp_path / 'missing'} does not exist",
    }
    for args, start in cases.items():
        result = cnnlab_cli("export", *args)
        assert result.exit_code == 2 and result.stderr.startswith(f"error: {start}"), result.output
        assert result.stderr.count("\n") == 1


def test_streaming_without_tensorboard_stops_before_any_run(monkeypatch, tiny_spec, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorboard" else real(name, *a))
    result = cnnlab_cli("train", tiny_spec(), "--set", "train.tensorboard=true", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and result.stderr == (
        "error: train.tensorboard: true needs tensorboard, which is not installed: pip install 'cnnlab[tensorboard]'\n")
    assert not (tmp_path / "runs").exists()


def test_a_run_that_streamed_is_the_same_run_as_one_that_did_not(sweep, tmp_path):
    """train.tensorboard changes what a run writes, not what it is: the sweep trained again without the
    stream skips its completed runs, and compare groups them as one configuration."""
    copy = tmp_path / "runs" / "exported"
    shutil.copytree(sweep, copy)
    spec = tmp_path / "exported.yaml"
    spec.write_text(yaml.safe_dump({**SWEEP, "train": TINY["train"]}, sort_keys=False))
    result = cnnlab_cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0 and [line.split()[0] for line in result.stdout.splitlines()] == ["skipped"] * 2 + [
        "2"]
    relu = next(copy.glob("*-relu-*"))
    seed1 = copy / relu.name.replace("-s0-", "-s1-")
    shutil.copytree(relu, seed1)
    spec = yaml.safe_load((seed1 / "spec.yaml").read_text())
    (seed1 / "spec.yaml").write_text(yaml.safe_dump({**spec, "seed": 1, "train": {**spec["train"],
                                                                                  "tensorboard": False}}))
    table = cnnlab.compare(copy)
    assert sorted(table.n) == [1, 2] and "train.tensorboard" not in table.columns


def test_export_help_imports_no_torch(heavy_imports):
    assert heavy_imports(["export", "--help"], ["export", "tensorboard", "--help"], ["export", "mlflow", "--help"],
                         ["export", "onnx", "--help"]) == []


def test_shell_completion_is_on_and_knows_the_commands():
    assert "--install-completion" in cnnlab_cli("--help").stdout
    result = CliRunner().invoke(app, [], prog_name="cnnlab", env={"_CNNLAB_COMPLETE": "complete_bash",
                                                                   "COMP_WORDS": "cnnlab export o", "COMP_CWORD": "2"})
    assert result.stdout.split() == ["onnx"]
