"""Warnings that teach, once, in plain words with the number: a kernel larger than its input under
`padding: same`, uneven same padding (instead of PyTorch's raw UserWarning), accuracy at chance, a
loss that became NaN; the examples in the README and docs/ print exactly what those pages show; the layer syntax
that narrow tables use reads back as the same layer; the thread setting applied before torch loads."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.rundir.records import RunSummary
from cnnlab.rundir.verdicts import at_chance, diverged
from cnnlab.shape.adhoc import layer_syntax, parse_layer
from cnnlab.shape.advice import layer_warnings
from cnnlab.shape.analysis import analyze
from cnnlab.shape.layers import Activation, Conv, ConvTranspose, Dropout, Flatten, GlobalAvgPool, Linear, Norm, Pool
from cnnlab.train.threads import configure_threads

ROOT = Path(__file__).parent.parent


def warnings_of(*layers: str, shape=(1, 28, 28)) -> list[str]:
    from cnnlab.shape.adhoc import parse_layers

    return layer_warnings(analyze(parse_layers(list(layers), shape), shape))


def test_a_kernel_larger_than_its_input_under_same_padding_is_named_with_its_numbers():
    (larger, uneven) = warnings_of("conv:8,k40,psame")
    assert larger == ("conv1: its 40×40 kernel is larger than its 28×28 input; with padding: same the output "
                      "keeps that size only by adding 39 pixels of zeros, so most of every window sees padding, "
                      "not the image")
    assert uneven.startswith("conv1: padding: same with the even kernel 40×40 cannot pad both sides alike")
    assert warnings_of("conv:8,k29,psame")[0].startswith("conv1: its 29×29 kernel")  # odd: no uneven padding
    assert len(warnings_of("conv:8,k29,psame")) == 1
    assert warnings_of("conv:8,k3,d14,psame")[0].startswith("conv1: its 29×29 kernel")  # the dilated span counts


def test_ordinary_layers_raise_no_warning():
    assert warnings_of("conv:8,k3,psame", "bn", "act:relu", "pool:max,k2", "conv:8,k14", "flatten", "fc:10") == []
    assert warnings_of("conv:8,k5,d2,psame") == []  # even total padding d(k−1) = 8: split evenly


def test_shape_says_the_warnings_on_stderr_once(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(app, ["shape", "experiments/activations.yaml", "--set", "model.conv[0].kernel_size=4",
                                      "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: conv1: padding: same with the even kernel 4×4") == 1  # 4 models, one warning
    assert "(runs 3–5 of 12, activation=tanh)" in result.stdout  # models named by their swept values' labels
    assert result.stdout.startswith("model,layer,type")  # the data stay clean


def summary(test_acc, chance=None, classes=8, test=2000, **extra) -> RunSummary:
    """A summary as the trainer writes it; `chance` defaults to that of balanced classes."""
    return RunSummary(test_acc=test_acc, chance_acc=chance or 1 / classes, classes=[str(i) for i in range(classes)],
                      split_sizes={"test": test}, **extra)


def test_accuracy_at_chance_says_so_with_the_number():
    assert at_chance(summary(0.125)) == "test acc 12.50% = chance for 8 classes: the network did not learn"
    assert at_chance(summary(0.14)) == "test acc 14.00% ≈ chance for 8 classes: the network did not learn"
    assert at_chance(summary(0.16)) is None  # 2000 images: 16% is well above 12.5% ± noise
    assert at_chance(summary(0.16, test=80)) is not None  # 80 images: within noise of chance
    assert at_chance(summary(0.9, chance=0.9, classes=2)) == (
        "test acc 90.00% = chance (90.00%: always answering the most common class): the network did not learn")
    assert at_chance(summary(None)) is None


def test_divergence_names_its_epoch():
    assert diverged(summary(0.2, diverged=True, epochs_run=2)) == "diverged: the loss became NaN or infinite in epoch 3"
    assert diverged(summary(0.2)) is None


def test_a_sweep_warns_once_on_stderr_and_pytorch_says_nothing(tmp_path):
    """Two runs share the even-kernel layer: one cnnlab sentence each, no raw UserWarning (a fresh process,
    so that no other test's warning filters hide it)."""
    spec = tmp_path / "even.yaml"
    spec.write_text("name: even\ndata: {dataset: {name: shapes, image_size: 16, train_size: 64, test_size: 16}}\n"
                    "model: {conv: [{out_channels: 4, kernel_size: 4, padding: same}], fc: []}\n"
                    "train: {epochs: 1, batch_size: 32, device: cpu, threads: 1}\nsweep: {seed: [0, 1]}\n")
    done = subprocess.run([sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "default"})
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("warning: conv1: padding: same with the even kernel 4×4") == 1
    assert "UserWarning" not in done.stderr and "even kernel lengths" not in done.stderr


def test_a_run_at_chance_says_so_after_its_summary(cli, tiny_spec, tmp_path):
    model = {"conv": [{"out_channels": 4, "kernel_size": 3, "padding": 1}], "fc": [16], "init": "zeros"}
    result = cli("train", tiny_spec(model=model), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    said = r"warning: test acc \d+\.\d\d% [=≈] chance for 8 classes: the network did not learn"
    assert re.search(said, result.stderr)


def readme_examples() -> list[tuple[str, list[str]]]:
    """Every `$ cnnlab ...` command in the text blocks of README.md and docs/*.md with the error and
    warning lines below it."""
    examples = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        command = None
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("$ cnnlab "):
                command = (line[2:], [])
                examples.append(command)
            elif command and line.startswith(("error: ", "warning: ")):
                command[1].append(line)
            else:
                command = None
    return [example for example in examples if example[1]]


def test_the_pages_show_examples_to_check():
    assert len(readme_examples()) >= 3  # docs/spec.md: two errors and a kernel's two warnings


@pytest.mark.parametrize(("command", "expected"), readme_examples())
def test_the_readme_shows_what_cnnlab_prints(command, expected, monkeypatch):
    """A command that would train runs with --dry-run: what it prints before training is the same."""
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    if not any(line.startswith("error: ") for line in expected):
        args.append("--dry-run")
    result = CliRunner().invoke(app, args, env={"COLUMNS": None, "TTY_COMPATIBLE": "0"})
    assert result.stderr.splitlines() == expected


def with_defaults(kind: str, build):
    """A registry layer with its options as the parser fills them (the defaults)."""
    from cnnlab.registry import registry
    from cnnlab.shape.layers import frozen

    return lambda name: build(name, frozen(registry(kind).validate_options(name, {})))


pairs = st.tuples(st.integers(1, 3), st.integers(1, 3))
layers = st.one_of(
    st.builds(Conv, st.just(3), st.integers(1, 64), st.tuples(st.integers(1, 7), st.integers(1, 7)),
              pairs, st.one_of(st.tuples(st.integers(0, 3), st.integers(0, 3)), st.sampled_from(["valid", "same"])),
              st.tuples(st.integers(1, 3), st.integers(1, 3)), st.sampled_from([1, 3]), st.booleans()),
    st.builds(ConvTranspose, st.just(3), st.integers(1, 8), st.tuples(st.integers(1, 5), st.integers(1, 5)),
              st.tuples(st.integers(1, 3), st.integers(1, 3)), bias=st.booleans()),
    st.builds(Pool, st.sampled_from(["max", "avg"]), st.tuples(st.integers(1, 4), st.integers(1, 4)),
              st.tuples(st.integers(1, 4), st.integers(1, 4)), ceil_mode=st.booleans()),
    st.just(GlobalAvgPool()), st.just(Flatten()),
    st.sampled_from(["batch", "instance", "layer", "group"]).map(
        with_defaults("norm", lambda name, options: Norm(name, 3, options))),
    st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "elu"]).map(
        with_defaults("activation", lambda name, options: Activation(name, options))),
    st.builds(Dropout, st.floats(0, 0.99, allow_nan=False)),
)


@given(layers)
def test_a_layer_written_in_the_layer_syntax_reads_back_as_itself(layer):
    text = layer_syntax(layer)
    assert parse_layer(text, (3, 32, 32)) == layer, text


def test_layers_with_options_read_back_too():
    for layer, text in [(Norm("group", 8, (("num_groups", 4),)), "norm:group,num_groups=4"),
                        (Norm("batch", 8, (("eps", 1e-05), ("momentum", 0.1))), "bn"),
                        (Activation("leaky_relu", (("negative_slope", 0.2),)), "act:leaky_relu,negative_slope=0.2"),
                        (Linear(8, 10, bias=False), "fc:10,nobias"),
                        (Conv(8, 4, (3, 3), padding="same"), "conv:4,k3,psame")]:
        assert layer_syntax(layer) == text
        read = parse_layer(text, (8, 16, 16) if not isinstance(layer, Linear) else (8,))
        assert layer_syntax(read) == text
    assert layer_syntax(Norm("batch", 8, affine=False)) is None  # the syntax cannot say it: the long form shows


def test_idle_threads_spin_briefly_unless_the_user_chose(monkeypatch):
    for name in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    configure_threads()
    assert os.environ["GOMP_SPINCOUNT"] == "1000"
    for name, value in (("GOMP_SPINCOUNT", "300000"), ("OMP_WAIT_POLICY", "ACTIVE"), ("OMP_NUM_THREADS", "2")):
        for other in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_NUM_THREADS"):
            monkeypatch.delenv(other, raising=False)
        monkeypatch.setenv(name, value)
        configure_threads()
        assert os.environ[name] == value and ("GOMP_SPINCOUNT" not in os.environ or name == "GOMP_SPINCOUNT")
