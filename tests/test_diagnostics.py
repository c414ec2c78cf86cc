"""Per-layer diagnostics on tiny shapes runs: diagnostics.csv, and the lecture's mechanisms it shows
(identical units after zero init, vanishing gradients through sigmoids, the signal Xavier loses and
Kaiming keeps) — diagnostics, not accuracy, so each run takes a second or two."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.compare.flags import LayerStats, flags
from cnnlab.rundir.csv_files import parse_diagnostics
from cnnlab.rundir.records import DIAGNOSTIC_STATISTICS, DiagnosticsRow


def train(tmp: Path, spec: dict) -> Path:
    """`cnnlab train` a spec written to `tmp`; returns its runs directory."""
    path = tmp / "exp.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = CliRunner().invoke(app, ["train", str(path), "--runs-dir", str(tmp / "runs")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return tmp / "runs"


def tiny(conv: list[dict], *, image: int = 12, train: dict | None = None, **model) -> dict:
    return {
        "name": "diag",
        "data": {"dataset": {"name": "shapes", "image_size": image, "train_size": 64, "test_size": 16}},
        "model": {"conv": conv, "fc": [], "global_pool": True, "norm": "none", **model},
        "train": {"epochs": 1, "batch_size": 32, "device": "cpu", "threads": 1, "diagnostics": {"probe": 32},
                  **(train or {})},
    }


def read(run: Path) -> list[DiagnosticsRow]:
    return parse_diagnostics((run / "diagnostics.csv").read_text(), run / "diagnostics.csv")


def values(rows: list[DiagnosticsRow], statistic: str, epoch: int = 0) -> dict[str, float]:
    """layer → value, in depth order."""
    return {r.layer: r.value for r in sorted(rows, key=lambda r: r.depth) if r.statistic == statistic
            and r.epoch == epoch}


def runs_of(runs: Path) -> dict[str, list[Path]]:
    """The swept value (as the run's meta.json records it) → its run directories."""
    found: dict[str, list[Path]] = {}
    for meta in sorted(runs.glob("*/*/meta.json")):
        swept = json.loads(meta.read_text())["swept"]
        found.setdefault(str(next(iter(swept.values()))), []).append(meta.parent)
    return found


def test_a_run_records_every_layer_at_init_and_after_each_epoch(tiny_spec, cli, tmp_path):
    spec = tiny_spec(train={"epochs": 2, "batch_size": 32, "device": "cpu", "threads": 1},
                     model={"conv": [{"out_channels": 4, "kernel_size": 3, "padding": 1}], "fc": [16],
                            "activation": "tanh", "dropout": 0.2})
    assert cli("train", spec, "--runs-dir", tmp_path / "runs").exit_code == 0
    run = next((tmp_path / "runs").glob("*/*"))
    rows = read(run)
    assert {r.epoch for r in rows} == {0, 1, 2}
    assert {(r.layer, r.depth, r.activation) for r in rows} == {("conv1", 1, "tanh"), ("fc1", 2, "tanh"),
                                                                ("head", 3, "identity")}
    assert {r.statistic for r in rows} == set(DIAGNOSTIC_STATISTICS) - {"dead_fraction"}  # tanh: saturation
    assert not [r for r in rows if r.statistic == "update_ratio" and r.epoch == 0]
    assert values(rows, "units") == {"conv1": 4, "fc1": 16, "head": 8}
    header = next(csv.reader((run / "diagnostics.csv").open()))
    assert header == ["epoch", "layer", "depth", "activation", "statistic", "value"]
    assert "diagnostics.csv" in json.loads((run / "summary.json").read_text())["files"]


def test_every_n_epochs_and_the_last(tiny_spec, cli, tmp_path):
    train_spec = {"epochs": 3, "batch_size": 32, "device": "cpu", "threads": 1, "diagnostics": {"every": 2}}
    assert cli("train", tiny_spec(train=train_spec), "--runs-dir", tmp_path / "runs").exit_code == 0
    assert {r.epoch for r in read(next((tmp_path / "runs").glob("*/*")))} == {0, 2, 3}


def test_diagnostics_change_nothing_that_training_sees(tiny_spec, cli, tmp_path):
    """The probe pass runs batch norm on its own batch and skips dropout, but training's numbers are the
    same with diagnostics on (and the percentiles' probe after every step) and off."""
    model = {"conv": [{"out_channels": 4, "kernel_size": 3, "padding": 1}], "fc": [16], "dropout": 0.3}
    tables = []
    for every in (1, 0):
        runs = tmp_path / f"every{every}"
        train_spec = {"epochs": 2, "batch_size": 32, "device": "cpu", "threads": 1,
                      "diagnostics": {"every": every, "steps": 1}}
        assert cli("train", tiny_spec(model=model, train=train_spec), "--runs-dir", runs).exit_code == 0
        run = next(runs.glob("*/*"))
        assert (run / "diagnostics.csv").exists() == (run / "distributions.csv").exists() == bool(every)
        tables.append([{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader((run / "metrics.csv")
                                                                                            .open())])
    assert tables[0] == tables[1]


def test_zero_init_leaves_one_distinct_unit_per_layer_for_good(tmp_path):
    conv = [{"out_channels": 8, "kernel_size": 3, "padding": 1}] * 2
    runs = train(tmp_path, tiny(conv, init="zeros", fc=[16], train={"epochs": 2}))
    rows = read(next(runs.glob("*/*")))
    for epoch in (0, 1, 2):
        distinct = values(rows, "distinct_units", epoch)
        assert distinct.pop("head") >= 1
        assert distinct == {"conv1": 1, "conv2": 1, "fc1": 1}, (epoch, distinct)
    document = json.loads(inspect(runs, "--format", "json").stdout)[0]
    for epoch in ("0", "2"):
        texts = [flag["text"] for flag in document["epochs"][epoch]["flags"]]
        assert "symmetry: conv1's 8 units are identical (as after zero or constant init); 2 more layers too" in texts


@pytest.fixture(scope="module")
def sigmoid_vs_relu(tmp_path_factory) -> Path:
    """10-layer plain nets, no normalization: sigmoid and ReLU, default (Kaiming) init, two seeds each."""
    conv = [{"out_channels": 16, "kernel_size": 3, "padding": 1}] * 10
    spec = {**tiny(conv), "sweep": {"model.activation": ["sigmoid", "relu"]}, "seeds": [0, 1]}
    return train(tmp_path_factory.mktemp("deep10"), spec)


def test_gradients_vanish_through_sigmoids_not_through_relus(sigmoid_vs_relu):
    """At init, the first layer's gradient per weight is below 1% of the last hidden layer's in the
    sigmoid net; with ReLU and Kaiming init the two stay within 10×."""
    for activation, runs in runs_of(sigmoid_vs_relu).items():
        for run in runs:
            rms = values(read(run), "grad_rms")
            ratio = rms["conv1"] / rms["conv10"]
            if activation == "sigmoid":
                assert ratio < 0.01, ratio
            else:
                assert 0.1 <= ratio <= 10, ratio


@pytest.fixture(scope="module")
def xavier_vs_kaiming(tmp_path_factory) -> Path:
    """20-layer plain ReLU nets 64 channels wide, Xavier (gain 1) and Kaiming init, three seeds each."""
    conv = [{"out_channels": 64, "kernel_size": 3, "padding": 1}] * 20
    spec = {**tiny(conv, image=16, train={"diagnostics": {"probe": 16}}),
            "sweep": {"model.init": ["xavier_normal", "kaiming_normal"]}, "seeds": [0, 1, 2]}
    return train(tmp_path_factory.mktemp("deep20"), spec)


def test_xavier_loses_the_signal_of_a_deep_relu_net_and_kaiming_keeps_it(xavier_vs_kaiming):
    ratios = {}
    for init, runs in runs_of(xavier_vs_kaiming).items():
        stds = [values(read(run), "act_std") for run in runs]
        ratios[init] = statistics.median(s["conv20"] / s["conv1"] for s in stds)
    assert ratios["xavier_normal"] < 0.01, ratios
    assert 0.25 <= ratios["kaiming_normal"] <= 4, ratios


# ------------------------------------------------------------------------------------------ inspect


def inspect(*args) -> object:
    return CliRunner().invoke(app, ["inspect", *map(str, args)], catch_exceptions=False)


def test_inspect_flags_the_vanishing_gradient_with_its_number(sigmoid_vs_relu):
    result = inspect(sigmoid_vs_relu, "--format", "json")
    assert result.exit_code == 0, result.output
    documents = {doc["label"]: doc for doc in json.loads(result.stdout)}
    assert set(documents) == {"sigmoid (n=2)", "relu (n=2)"}
    sigmoid, relu = documents["sigmoid (n=2)"], documents["relu (n=2)"]
    assert sigmoid["config"] == {"model.activation": "sigmoid"} and sigmoid["n"] == 2 and len(sigmoid["runs"]) == 2
    assert set(sigmoid["epochs"]) == {"0", "1"}
    at_init = sigmoid["epochs"]["0"]
    kinds = {flag["kind"]: flag for flag in at_init["flags"]}
    assert kinds["vanishing gradient"]["value"] < 0.01
    assert kinds["vanishing gradient"]["text"].startswith("vanishing gradient: conv1's gradient per weight is ")
    assert "of conv10's" in kinds["vanishing gradient"]["text"]
    assert not [f for f in relu["epochs"]["0"]["flags"] if f["kind"] == "vanishing gradient"]
    layers = at_init["layers"]
    assert [layer["layer"] for layer in layers] == [f"conv{i}" for i in range(1, 11)] + ["head"]
    assert layers[0]["saturated_fraction"] >= 0 and "dead_fraction" not in layers[0]


def test_inspect_table_markdown_and_csv(sigmoid_vs_relu):
    table = inspect(sigmoid_vs_relu)
    assert table.exit_code == 0, table.output
    assert "sigmoid (n=2)" in table.stdout and "at init" in table.stdout and "after epoch 1" in table.stdout
    assert "⚑ vanishing gradient: conv1's gradient per weight is" in table.stdout
    markdown = inspect(sigmoid_vs_relu, "--format", "markdown", "--epoch", "0").stdout
    assert "### relu (n=2)" in markdown and "| layer | activation |" in markdown and "after epoch" not in markdown
    rows = list(csv.DictReader(inspect(sigmoid_vs_relu, "--format", "csv").stdout.splitlines()))
    assert list(rows[0]) == ["model.activation", "n", "epoch", "layer", "depth", "activation", "statistic", "value"]
    assert {(r["model.activation"], r["epoch"]) for r in rows} == {(a, e) for a in ("sigmoid", "relu") for e in "01"}


def test_inspect_plot_of_a_sweep(xavier_vs_kaiming, tmp_path):
    from matplotlib.image import imread

    plot = tmp_path / "init.png"
    result = inspect(xavier_vs_kaiming, "--plot", plot, "--format", "json")
    assert result.exit_code == 0, result.output
    assert f"wrote {plot}" in result.stderr
    height, width, _ = imread(plot).shape
    assert width >= 1200 and height >= 900
    labels = [doc["label"] for doc in json.loads(result.stdout)]
    assert labels == ["xavier_normal (n=3)", "kaiming_normal (n=3)"]


def test_report_draws_the_depth_plot_beside_the_curves(xavier_vs_kaiming, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["report", str(xavier_vs_kaiming), "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = (out / "README.md").read_text()
    assert "![diagnostics of diag](diag-diagnostics.png)" in page
    assert page.index("diag-curves.png") < page.index("diag-diagnostics.png")
    assert 0 < (out / "diag-diagnostics.png").stat().st_size < 200_000
    result = CliRunner().invoke(app, ["report", str(xavier_vs_kaiming), "--out", str(tmp_path / "bare"),
                                      "--no-plots"])
    assert sorted(p.name for p in (tmp_path / "bare").iterdir()) == ["README.md", "claims.json"]  # no PNG


def test_inspect_user_errors_are_one_line(sigmoid_vs_relu, tiny_spec, cli, tmp_path):
    old = tmp_path / "old"
    train_spec = {"epochs": 1, "batch_size": 32, "device": "cpu", "threads": 1, "diagnostics": {"every": 0}}
    assert cli("train", tiny_spec(train=train_spec), "--runs-dir", old).exit_code == 0
    (tmp_path / "empty").mkdir()
    cases = [
        ([next(old.glob("*/*"))], "no diagnostics.csv; it was trained by a cnnlab without diagnostics"),
        ([tmp_path / "empty"], "no runs found under"),
        ([sigmoid_vs_relu, "--epoch", "7"], "--epoch 7: not recorded for sigmoid (n=2) (recorded: 0, 1)"),
        ([sigmoid_vs_relu, "--plot", tmp_path / "x.nope"], "cannot write nope"),
    ]
    for args, expected in cases:
        result = inspect(*args)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr and result.stderr.count("\n") == 1, result.stderr


def test_inspect_leaves_out_a_run_with_a_broken_diagnostics_file(sigmoid_vs_relu, tmp_path):
    import shutil

    copy = tmp_path / "runs"
    shutil.copytree(sigmoid_vs_relu, copy)
    broken = sorted(copy.glob("*/*/diagnostics.csv"))[0]
    broken.write_text("epoch,layer\n0,conv1\n")
    result = inspect(copy, "--format", "json")
    assert result.exit_code == 0, result.output
    assert f"warning: {broken}: not a diagnostics file (no depth, activation, statistic, value column); left out" \
        in result.stderr
    assert sorted(doc["n"] for doc in json.loads(result.stdout)) == [1, 2]


def test_inspect_reads_files_only(heavy_imports, sigmoid_vs_relu):
    assert heavy_imports(["inspect", "--help"], ["inspect", sigmoid_vs_relu],
                         ["inspect", sigmoid_vs_relu, "--format", "json"]) == []


def layer(name: str, depth: int, activation: str = "relu", **values: float) -> LayerStats:
    return LayerStats(name, depth, activation, values, values, values)


def test_flags_name_the_layer_and_the_number():
    layers = [layer("conv1", 1, "tanh", act_std=0.1, grad_rms=1.0, saturated_fraction=0.1, units=8, distinct_units=8),
              layer("conv2", 2, "tanh", act_std=4.0, grad_rms=1.0, saturated_fraction=0.63, units=8, distinct_units=8),
              layer("head", 3, "identity", act_std=1.0, grad_rms=1.0, units=10, distinct_units=10)]
    assert [f.text for f in flags(layers)] == ["exploding activations: std grows 40× from conv1 to conv2",
                                               "saturation: 63% of conv2's tanh outputs are saturated"]
    layers = [layer("conv1", 1, grad_rms=3e-6, act_std=1.0, dead_fraction=0.3, units=4, distinct_units=4),
              layer("conv2", 2, grad_rms=1.0, act_std=1.0, dead_fraction=0.41, units=4, distinct_units=4),
              layer("head", 3, "identity", grad_rms=1.0)]
    assert [f.text for f in flags(layers)] == [
        "vanishing gradient: conv1's gradient per weight is 3e-06 of conv2's",
        "dead units: 41% of conv2's units never fire (1 more layer at 25% or more)"]
    assert flags([layer("conv1", 1, act_std=1, grad_rms=1), layer("head", 2, "identity")]) == []


def test_distinct_units_count_outputs_equal_up_to_a_relative_tolerance():
    import torch

    from cnnlab.train.diagnostics import distinct_units

    a, b = torch.randn(256), torch.randn(256)
    units = torch.stack([a, a * (1 + 1e-6), b, torch.zeros(256), torch.zeros(256), a + 0.1])
    assert distinct_units(units).item() == 4  # a (twice), b, zeros (twice), a shifted


def test_unit_counts_over_seeds_are_counts_or_their_range(tmp_path, make_run):
    """Two seeds with 64 and 63 distinct units: the table says 63–64, never a mean of 63.5."""
    from cnnlab.rundir.csv_files import diagnostics_csv

    group = tmp_path / "runs" / "tiny"
    for seed, distinct in ((0, 64), (1, 63)):
        run = make_run(group, seed=seed)
        values = (("units", 64), ("distinct_units", distinct), ("act_std", 1.0))
        rows = [DiagnosticsRow(epoch=epoch, layer="conv1", depth=1, activation="relu", statistic=statistic, value=value)
                for epoch in (0, 2) for statistic, value in values]
        (run / "diagnostics.csv").write_text(diagnostics_csv(rows))
    result = CliRunner().invoke(app, ["inspect", str(group)], env={"COLUMNS": "120", "TTY_COMPATIBLE": "0"})
    assert result.exit_code == 0, result.output
    conv1 = [line.split() for line in result.stdout.splitlines() if line.startswith("conv1")]
    assert conv1 == [["conv1", "relu", "64", "63–64", "1"]] * 2
    markdown = CliRunner().invoke(app, ["inspect", str(group), "--format", "markdown"]).stdout
    assert "| conv1 | relu | 64 | 63–64 | 1 |" in markdown and "63.5" not in markdown
