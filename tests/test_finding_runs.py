"""Finding runs: `cnnlab ls`, choosing one run from an experiment folder (--latest, --best, a piece of
its id), run ids and headers that name swept values and --set overrides, compare across experiments."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.compare.find import RunChoiceError, find_run
from cnnlab.compare.metrics import CompareError
from cnnlab.rundir.ids import make_run_id, undated
from cnnlab.spec import expand_runs, load_experiment
from cnnlab.spec.labels import labels, value_label
from cnnlab.util.text import key_labels


def run_cli(*args: object):
    """`cnnlab ARGS` into a pipe."""
    return CliRunner().invoke(app, [str(a) for a in args], env={"TTY_COMPATIBLE": "0", "COLUMNS": None})


@pytest.fixture
def folder(tmp_path, make_run, monkeypatch):
    """runs/act (relative): relu and tanh × seeds 0, 1, started in that order; tanh seed 1 failed."""
    monkeypatch.chdir(tmp_path)
    group = Path("runs") / "act"
    accs = {("relu", 0): 0.80, ("relu", 1): 0.90, ("tanh", 0): 0.70, ("tanh", 1): None}
    for (activation, seed), acc in accs.items():
        make_run(group, seed=seed, swept={"model.activation": activation}, test_acc=acc,
                 status="completed" if acc is not None else "failed")
    return group


def ids(group: Path) -> dict[str, Path]:
    return {p.name: p for p in sorted(group.iterdir())}


# ---------------------------------------------------------------- choosing a run


def test_a_run_directory_is_itself(folder):
    run = next(iter(ids(folder).values()))
    assert find_run(run) == run


def test_latest_is_the_completed_run_started_last_and_best_the_top_finished_one(folder):
    runs = list(ids(folder).values())  # run-0000-s0 ... in the order they were made (and started)
    assert find_run(folder, latest=True) == runs[2]  # the last one failed
    assert find_run(folder, best="test_acc") == runs[1]
    assert find_run(folder, best="train_loss") == runs[0]  # lower is better: the alias of final_train_loss


def test_a_piece_of_a_run_id_names_the_run_and_narrows_latest_and_best(folder):
    runs = list(ids(folder).values())
    assert find_run(folder / runs[1].name[:8]) == runs[1]  # a prefix
    assert find_run(folder / runs[2].name[4:8]) == runs[2]  # any unique piece (its number)
    assert find_run(folder / "s0", best="test_acc") == runs[0]


@pytest.mark.parametrize(("args", "expected"), [
    ({}, r"runs/act holds 4 runs; name one .* or add --latest or --best METRIC:\n  run-\d+-s0  completed  "
         r"test acc 80.00%\n.*\n  run-\d+-s1  failed$"),
    ({"piece": "s1"}, r"2 runs in runs/act have 's1' in their id; name one"),
    ({"piece": "zzz"}, r"no run in runs/act has 'zzz' in its id \(a piece matches whole parts between dashes\):\n"
                       r"  run-\d+-s0"),
])
def test_an_ambiguous_or_missing_choice_lists_the_candidates(folder, args, expected):
    path = folder / args["piece"] if "piece" in args else folder
    with pytest.raises(RunChoiceError, match=re.compile(expected, re.DOTALL)):
        find_run(path)


def test_a_piece_matches_whole_parts_of_an_id(tmp_path, make_run):
    """`relu-s1` is the run whose id holds the parts relu and s1, whatever stands between them (the
    `--set` labels of a sweep trained with data.dataset=shapes); `relu` is never `leaky_relu`."""
    group = tmp_path / "runs" / "act"
    runs = [make_run(group, seed=seed, swept={"model.activation": act}, run_id=f"20261202-010203-{act}-dataset_shapes"
                                                                              f"-s{seed}-{tag}")
            for act, seed, tag in (("relu", 0, "aa11"), ("relu", 1, "bb22"), ("leaky_relu", 1, "cc33"))]
    assert find_run(group / "relu-s1") == runs[1]
    assert find_run(group / "leaky_relu-s1") == runs[2]
    assert find_run(group / "s1-cc33") == runs[2] and find_run(group / "20261202-010203-leaky") == runs[2]
    with pytest.raises(RunChoiceError, match=r"^2 runs in .* have 'relu' in their id") as err:
        find_run(group / "relu")
    assert "leaky_relu" not in str(err.value)
    with pytest.raises(RunChoiceError, match="no run in .* has 'elu-s1' in its id"):
        find_run(group / "elu-s1")


def test_inspect_takes_a_piece_of_a_run_id_as_eval_does(cli, tiny_spec, tmp_path):
    runs = tmp_path / "runs"
    assert cli("train", tiny_spec(seeds=[0, 1]), "--runs-dir", runs).exit_code == 0
    first, second = sorted((runs / "tiny").glob("*-s*"))
    piece = undated(second.name)
    result = cli("inspect", runs / "tiny" / piece)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"tiny/{second.name}\n") and find_run(runs / "tiny" / piece) == second
    ambiguous = cli("inspect", runs / "tiny" / first.name[:8])  # the date: both runs' ids start with it
    assert ambiguous.exit_code == 2
    lines = ambiguous.stderr.splitlines()
    assert lines[0].startswith(f"error: 2 runs in {runs / 'tiny'} have '{first.name[:8]}' in their id; name one")
    assert [line.split()[0] for line in lines[1:]] == [first.name, second.name]


def test_mistakes_in_choosing_are_one_line_errors(folder):
    with pytest.raises(CompareError, match='--best tst_acc: not a metric \\(did you mean "test_acc"\\?\\)'):
        find_run(folder, best="tst_acc")
    with pytest.raises(CompareError, match="--latest and --best choose differently"):
        find_run(folder, latest=True, best="test_acc")
    with pytest.raises(CompareError, match="no such run directory or experiment folder"):
        find_run(Path("nowhere/at/all"))


def test_eval_of_an_experiment_folder_lists_its_runs(folder):
    result = run_cli("eval", folder)
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: runs/act holds 4 runs") and len(lines) == 5


def test_eval_with_latest_evaluates_the_latest_run(cli, tiny_spec, tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        assert cli("train", tiny_spec(seed=seed), "--runs-dir", runs).exit_code == 0
    latest = sorted((runs / "tiny").iterdir())[-1]
    result = cli("eval", runs / "tiny", "--latest", "--format", "json", "--device", "cpu")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["run"] == str(latest)


# ---------------------------------------------------------------- cnnlab ls


def test_ls_lists_runs_oldest_first_with_what_differs(folder):
    result = run_cli("ls", folder)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "4 runs in runs/act"
    assert lines[2].split() == ["run", "status", "model.activation", "seed", "test", "acc", "%", "age"]
    rows = [line.split() for line in lines[4:8]]
    assert [row[0] for row in rows] == list(ids(folder))
    assert [row[1:4] for row in rows] == [["completed", "relu", "0"], ["completed", "relu", "1"],
                                          ["completed", "tanh", "0"], ["failed", "tanh", "1"]]
    assert rows[1][4] == "90.00"


def test_ls_formats_hold_the_same_runs(folder):
    records = json.loads(run_cli("ls", folder, "--format", "json").stdout)
    assert [r["run_id"] for r in records] == list(ids(folder))
    assert records[1] | {"age_seconds": 0} == records[1] | {
        "status": "completed", "model.activation": "relu", "seed": 1, "test_acc": 0.9, "age_seconds": 0}
    rows = list(csv.DictReader(io.StringIO(run_cli("ls", folder, "--format", "csv").stdout)))
    assert [r["model.activation"] for r in rows] == ["relu", "relu", "tanh", "tanh"] and rows[3]["test_acc"] == ""
    markdown = run_cli("ls", folder, "--format", "markdown").stdout
    assert markdown.startswith("**4 runs in runs/act**") and f"| {list(ids(folder))[3]} | failed | tanh |" in markdown


def test_ls_across_experiments_names_each_and_its_settings(folder, make_run):
    make_run(Path("runs") / "depth", swept={"model.conv": [{"out_channels": 8, "kernel_size": 3}] * 3})
    layer = "{out_channels: 8, kernel_size: 3}"
    (Path("runs") / "depth" / "sweep.yaml").write_text(
        f"name: depth\nsweep:\n  model.conv:\n  - [{layer}]\n  - [{layer}, {layer}, {layer}]\n")
    out = run_cli("ls", "runs").stdout
    header = out.splitlines()[2].split()
    assert header[:4] == ["run", "status", "name", "settings"]
    assert re.search(r"run-\d+-s0 +completed +depth +conv=#1\[8x3\]", out)
    assert re.search(r"run-\d+-s0 +completed +act +activation=relu", out)


def test_ls_at_80_columns_keeps_the_settings_before_long_ids_and_names(tmp_path, make_run, monkeypatch):
    """Across experiments the settings are what tell the runs apart: the ids shrink to their ends (and
    the name goes) before they do."""
    monkeypatch.chdir(tmp_path)
    for i, act in enumerate(("sigmoid", "tanh", "relu", "leaky_relu")):
        make_run(Path("runs") / "activations", seed=1, swept={"model.activation": act},
                 run_id=f"20261202-010203-{act}-dataset_shapes-train_size_2000-plus1-s1-{i:04x}")
    make_run(Path("runs") / "quickstart", run_id="20261202-010203-s0-cd11")
    make_run(Path("runs") / "quickstart", swept={"model.init": "zeros"}, run_id="20261202-010203-init_zeros-s0-cd12")
    result = CliRunner().invoke(app, ["ls", "runs"], env={"TTY_COMPATIBLE": "0", "COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), lines
    assert lines[2].split()[:2] == ["run", "status"] and "settings" in lines[2].split()
    assert lines[4].split()[0] == "s1-0000" and "activation=sigmoid" in lines[4]
    assert lines[9].split()[0] == "s0-cd12" and "init=zeros" in lines[9]
    assert "run: the end of its id (its seed and suffix), which FOLDER/PIECE takes." in result.stdout
    assert find_run(Path("runs/activations/s1-0003")).name.startswith("20261202-010203-leaky_relu-")


def test_ls_without_a_runs_folder_says_what_to_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("ls")
    assert result.exit_code == 2 and result.stderr == (
        "error: no runs/ here; name a runs directory or an experiment folder: cnnlab ls PATH\n")


def test_ls_and_eval_help_never_import_torch(folder, heavy_imports):
    assert heavy_imports(["ls", folder], ["ls", folder, "--format", "json"], ["ls", "--help"]) == []


# ---------------------------------------------------------------- labels and run ids


@pytest.mark.parametrize(("value", "index", "label"), [
    ("relu", 0, "relu"),
    (0.001, 1, "0.001"),
    (True, None, "true"),
    ({"name": "normal", "std": 0.01}, 1, "normal(std=0.01)"),
    ([256, 128], 0, "[256,128]"),
    ([{"out_channels": 16, "kernel_size": 3}, {"out_channels": 32, "kernel_size": 3}], 2, "#2[16,32]"),
    ([{"out_channels": 32}] * 8, 3, "#3[32x8]"),
    ({"type": "max", "kernel_size": 2, "stride": 2, "padding": 0, "dilation": 1}, 1, "#1"),
    ([{"out_channels": 16}], None, "[16]"),
])
def test_values_read_short(value, index, label):
    assert value_label(value, index) == label


def test_keys_read_by_their_shortest_unique_tail():
    keys = ["model.activation", "model.conv[0].stride", "model.conv[1].stride", "len(model.conv)", "data.normalize"]
    assert key_labels(keys) == {"model.activation": "activation", "model.conv[0].stride": "conv[0].stride",
                                "model.conv[1].stride": "conv[1].stride", "len(model.conv)": "len(conv)",
                                "data.normalize": "normalize"}


def test_headers_and_run_ids_name_the_same_values(tmp_path):
    spec = tmp_path / "depth.yaml"
    spec.write_text("name: depth\nsweep:\n  model.conv:\n    - [{out_channels: 8, kernel_size: 3}]\n"
                    "    - [{out_channels: 8, kernel_size: 3}, {out_channels: 16, kernel_size: 3}]\n"
                    "  model.init: [zeros, {name: normal, std: 0.01}]\n")
    runs = expand_runs(load_experiment(spec, ["model.init=xavier_normal", "train.epochs=2", "seeds=[0]"]))
    assert [list(r.labels.values()) for r in runs] == [
        ["conv=#0[8]", "init=zeros"], ["conv=#0[8]", "init=normal(std=0.01)"],
        ["conv=#1[8,16]", "init=zeros"], ["conv=#1[8,16]", "init=normal(std=0.01)"]]
    assert runs[0].set_labels == {"train.epochs": "epochs=2"}  # a swept key's --set, and seeds=, are not named
    run_id = make_run_id(runs[3].labels.values(), runs[3].set_labels.values(), 0)
    assert re.fullmatch(r"\d{8}-\d{6}-conv1_8_16-normal_std_0.01-epochs_2-s0-[0-9a-f]{4}", run_id)


def test_where_and_how_a_run_computes_is_not_in_its_id(tmp_path):
    """data.root, data.download, train.device and train.threads may change on a resume: the run stays the
    same run, and its id does not name them."""
    spec = tmp_path / "exp.yaml"
    spec.write_text("name: x\n")
    neutral = ["data.root=/some/dir", "data.download=false", "train.device=cpu", "train.threads=1"]
    [run] = expand_runs(load_experiment(spec, [*neutral, "model.init=zeros"]))
    assert run.set_labels == {"model.init": "init=zeros"}
    assert re.fullmatch(r"\d{8}-\d{6}-init_zeros-s0-[0-9a-f]{4}", make_run_id([], run.set_labels.values(), 0))


def test_many_overrides_are_counted_not_all_named():
    overrides = labels({"data.dataset": "shapes", "data.dataset.train_size": 1000, "train.epochs": 3, "seed": 1})
    run_id = make_run_id([], overrides.values(), 1)
    assert re.fullmatch(r"\d{8}-\d{6}-dataset_shapes-train_size_1000-plus2-s1-[0-9a-f]{4}", run_id)


def test_a_set_override_is_in_the_run_id_and_the_run_directory_is_the_last_line(cli, tiny_spec, tmp_path):
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs", "--set", "model.init=xavier_normal")
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "runs" / "tiny").iterdir())
    assert re.fullmatch(r"\d{8}-\d{6}-init_xavier_normal-s0-[0-9a-f]{4}", run.name)
    assert result.stdout.splitlines()[-1] == f"run directory: {run}"


# ---------------------------------------------------------------- compare across experiments


def test_compare_keeps_the_name_when_runs_of_several_experiments_are_mixed(tmp_path, make_run):
    for name in ("first", "second"):
        for seed in (0, 1):
            make_run(tmp_path / "runs" / name, seed=seed, test_acc=0.8 if name == "first" else 0.6)
    rows = json.loads(run_cli("compare", tmp_path / "runs", "--format", "json").stdout)
    assert [(r["name"], r["n"]) for r in rows] == [("first", 2), ("second", 2)]  # same config: two rows
    table = run_cli("compare", tmp_path / "runs").stdout.splitlines()
    assert table[2].split()[:2] == ["name", "n"]
    single = json.loads(run_cli("compare", tmp_path / "runs" / "first", "--format", "json").stdout)
    assert "name" not in single[0]  # one experiment: the name tells nothing apart
