"""`cnnlab shape` from the command line: its three forms, its formats, its errors, and no torch."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cnnlab.cli import app

ROOT = Path(__file__).parent.parent
LENET5 = ["--input", "1x32x32", "conv:6,k5", "pool:max,k2", "conv:16,k5", "pool:max,k2", "conv:120,k5",
          "flatten", "fc:84", "fc:10"]


@pytest.fixture
def shape_cli():
    """`cnnlab shape ARGS...` in-process, through the real command-line app."""
    runner = CliRunner()

    def invoke(*args: object, columns: int = 160):
        return runner.invoke(app, ["shape", *(str(a) for a in args)], catch_exceptions=False,
                             env={"COLUMNS": str(columns)})

    return invoke


def one_error_line(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for word in words:
        assert word in lines[0]


# ---------------------------------------------------------------- ad-hoc layers


def test_adhoc_lenet5_table_has_the_lecture_figures(shape_cli):
    result = shape_cli(*LENET5)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert "16×5×5" in lines["pool2"] and "16×16" in lines["pool2"]
    assert "120×1×1" in lines["conv3"] and "32×32" in lines["conv3"]
    assert "61,706 params" in result.stdout and "416,520 MACs" in result.stdout
    assert "FLOPs ≈ 2·MACs" in result.stdout


def test_a_narrow_terminal_keeps_every_number_whole(shape_cli):
    result = shape_cli(*LENET5, columns=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 80
    assert "…" not in result.stdout
    assert "240,000" in result.stdout and "48,120" in result.stdout and "32×32" in result.stdout


def test_adhoc_json_gives_every_layer_and_the_totals(shape_cli):
    result = shape_cli(*LENET5, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    layers = document["layers"]
    assert [layer["rf_h"] for layer in layers[:5]] == [5, 6, 14, 16, 32]
    assert [layer["jump_h"] for layer in layers[:5]] == [1, 2, 2, 4, 4]
    assert layers[-1]["output"] == [10]
    assert document["totals"] == {
        "params": 61_706, "macs": 416_520, "activation_elements": 8_214, "activation_bytes_float32": 32_856,
    }


def test_adhoc_csv_and_markdown_hold_the_same_rows(shape_cli):
    rows = list(csv.DictReader(io.StringIO(shape_cli(*LENET5, "--format", "csv").stdout)))
    assert [row["layer"] for row in rows] == ["conv1", "pool1", "conv2", "pool2", "conv3", "flatten1", "fc1", "fc2"]
    assert sum(int(row["params"]) for row in rows) == 61_706
    markdown = shape_cli(*LENET5, "--format", "markdown").stdout
    assert markdown.startswith("| layer | type | output |")
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    assert len(table) == 2 + len(rows)  # header, separator, one line per layer


def test_explain_shows_the_filled_in_formula(shape_cli):
    result = shape_cli("--input", "3x32x32", "conv:8,k3,s2,p1,d2", "pool:max,k1,s2,ceil", "--explain")
    assert result.exit_code == 0, result.output
    assert "⌊(32 + 2·1 − 2·(3−1) − 1)/2⌋ + 1 = 15" in result.stdout
    assert "⌈(15 + 2·0 − 1·(1−1) − 1)/2⌉ + 1 = 8" in result.stdout


@pytest.mark.parametrize(
    ("layers", "words"),
    [
        (["conv:16,q3"], ["'conv:16,q3'", "unknown option 'q3'", "conv:OUT,kK"]),
        (["cnv:16,k3"], ["unknown layer kind 'cnv'", 'did you mean "conv"']),
        (["conv:16"], ["missing the kernel size"]),
        (["act:relux"], ['did you mean "relu"']),
        (["conv:4,k3,s2,psame"], ["'same' needs stride 1"]),
        (["conv:4,k5", "conv:4,k5"], ["layer conv2 (conv:4,k5)", "⌊(4 + 2·0 − 1·(5−1) − 1)/1⌋ + 1 = 0", "below 1"]),
        (["fc:10"], ["linear needs a flat input"]),
        (["pool:max,k3,p2"], ["pool padding 2 is more than half the kernel size 3"]),
    ],
)
def test_bad_layers_end_in_one_line(shape_cli, layers, words):
    one_error_line(shape_cli("--input", "1x8x8", *layers), *words)


@pytest.mark.parametrize("text", ["-1x32x32", "3x32", "3x0x5", "big"])
def test_bad_input_shapes_end_in_one_line(shape_cli, text):
    one_error_line(shape_cli("--input", text, "conv:4,k3"), "--input")


# ---------------------------------------------------------------- the single-layer calculator


def test_calculator_fills_in_the_formula_and_notes_uncovered_padding(shape_cli):
    result = shape_cli("--size", 32, "--kernel", 5, "--stride", 2, "--padding", 2)
    assert result.exit_code == 0, result.output
    assert "⌊(32 + 2·2 − 1·(5−1) − 1)/2⌋ + 1 = 16" in result.stdout
    assert "note:" in result.stdout and "(0 input, 1 padding)" in result.stdout


def test_calculator_warns_when_input_pixels_are_dropped(shape_cli):
    result = shape_cli("--size", 32, "--kernel", 4, "--stride", 3)
    assert result.exit_code == 0, result.output
    assert "= 10" in result.stdout
    assert "warning:" in result.stdout and "last 1 pixel" in result.stdout and "(1 input, 0 padding)" in result.stdout
    record = json.loads(shape_cli("--size", 32, "--kernel", 4, "--stride", 3, "--format", "json").stdout)
    assert (record["output"], record["uncovered"], record["uncovered_input"]) == (10, 1, 1)


def test_calculator_uses_pytorch_ceil_mode_rule(shape_cli):
    record = json.loads(shape_cli("--size", 32, "--kernel", 1, "--stride", 2, "--ceil", "--format", "json").stdout)
    assert record["output"] == 16


def test_solve_padding_kernel_and_stride(shape_cli):
    padding = json.loads(shape_cli("--size", 32, "--kernel", 5, "--solve", "padding", "--want", 32,
                                   "-f", "json").stdout)
    assert padding["padding"] == 2 and padding["output"] == 32
    kernels = json.loads(shape_cli("--size", 32, "--stride", 2, "--padding", 1, "--solve", "kernel", "--want", 16,
                                   "-f", "json").stdout)
    assert [k["kernel"] for k in kernels] == [3, 4]
    result = shape_cli("--size", 32, "--kernel", 5, "--solve", "stride", "--want", 1)
    assert "stride 28:" in result.stdout and "every larger stride" in result.stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--size", -3, "--kernel", 3], ["--size must be >= 1, got -3"]),
        (["--size", 32, "--kernel", 3, "--stride", 2, "--padding", "same"], ["'same' needs stride 1"]),
        (["--size", 32, "--kernel", 0], ["conv kernel size must be >= 1, got 0"]),
        (["--size", 32, "--kernel", 3, "--padding", "two"], ["--padding"]),
        (["--size", 32, "--kernel", 3, "--solve", "padding"], ["--solve and --want go together"]),
        (["--size", 32, "--kernel", 3, "--solve", "padding", "--padding", 1, "--want", 3], ["leave out --padding"]),
        (["--size", 32, "--stride", 2, "--solve", "kernel", "--want", 40], ["no kernel turns an input of 32 into 40"]),
        (["--size", 32, "--kernel", 3, "conv:4,k3"], ["--layers does not apply"]),
    ],
)
def test_bad_calculator_input_ends_in_one_line(shape_cli, args, words):
    one_error_line(shape_cli(*args), *words)


# ---------------------------------------------------------------- a spec


def test_spec_form_shows_the_model_of_the_spec(shape_cli, tiny_spec):
    result = shape_cli(tiny_spec(), "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["input"] == [1, 16, 16]
    assert [layer["output"] for layer in document["layers"]][:4] == [[4, 16, 16]] * 3 + [[4, 8, 8]]
    assert document["layers"][-1]["layer"] == "head"


def test_sweep_gives_one_table_per_distinct_architecture(shape_cli, tiny_spec):
    path = tiny_spec(sweep={"model.init": ["xavier_normal", "kaiming_normal"], "model.fc": [[16], [32]]},
                     seeds=[0, 1])
    documents = json.loads(shape_cli(path, "--format", "json").stdout)
    titles = [doc["title"] for doc in documents]
    assert len(titles) == 2  # the initialization and the seed do not change the layers; the fc width does
    assert titles[0].endswith("(runs 0–1, 4–5 of 8, fc=[16])")  # the swept value as run ids name it
    single = json.loads(shape_cli(path, "--run", 7, "--format", "json").stdout)
    assert "run 7 of 8" in single["title"] and single["layers"][-3]["output"] == [32]
    one_error_line(shape_cli(path, "--run", 8), "--run 8", "8 runs")


def test_impossible_spec_names_the_key_and_the_layer(shape_cli, tiny_spec):
    result = shape_cli(tiny_spec(), "--set", "model.conv[0].kernel_size=19")
    one_error_line(result, "model.conv[0]", "conv1", "below 1")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--input", "784", "norm:instance"], "instance norm needs C×H×W feature maps"),
        (["--input", "16x1x1", "norm:instance"], "instance norm on a 1×1 map"),
        (["--input", "6x8x8", "norm:group,num_groups=4"], "num_groups=4: needs a channel count divisible by 4"),
    ],
)
def test_norm_rules_are_the_ones_training_uses(shape_cli, args, expected):
    """The ad-hoc syntax asks the same layer rules as the train pre-flight: no layer torch would reject."""
    one_error_line(shape_cli(*args), "layer norm1", expected)


def test_help_lists_examples_and_the_layer_syntax(shape_cli):
    result = shape_cli("--help")
    assert result.exit_code == 0
    assert "conv:OUT,kK" in result.stdout and "--solve" in result.stdout and "cnnlab shape --input" in result.stdout


# ---------------------------------------------------------------- never torch

def test_the_shape_command_never_imports_torch(tiny_spec, heavy_imports):
    assert heavy_imports(["shape", tiny_spec()],
                         ["shape", "--input", "1x28x28", "conv:4,k3", "bn", "act:relu", "gap", "fc:10"],
                         ["shape", "--size", "32", "--kernel", "3"]) == []


def test_quickstart_spec(shape_cli):
    result = shape_cli(ROOT / "experiments" / "quickstart.yaml")
    assert result.exit_code == 0, result.output
    assert "model for 1×28×28 inputs, 8 classes" in result.stdout
    assert yaml.safe_load((ROOT / "experiments" / "quickstart.yaml").read_text())["name"] in result.stdout


def test_lenet5_experiment_has_the_lecture_receptive_fields(shape_cli):
    documents = json.loads(shape_cli(ROOT / "experiments" / "lenet5.yaml", "--format", "json").stdout)
    classic = next(doc for doc in documents if "lenet5_classic" in doc["title"])
    windows = [layer for layer in classic["layers"] if layer["type"].startswith(("conv", "subsample"))]
    assert [layer["rf_h"] for layer in windows] == [5, 6, 14, 16, 32]
    assert [layer["jump_h"] for layer in windows] == [1, 2, 2, 4, 4]
    assert sorted(doc["totals"]["params"] for doc in documents) == [60_850, 61_706]

