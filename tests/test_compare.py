"""`cnnlab compare` on hand-made run directories in the trainer's exact format."""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import os
import platform
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.compare.load import SpecReader, flatten_spec
from cnnlab.compare.render import sparkline
from cnnlab.rundir.liveness import now_iso
from cnnlab.util.yamlio import dump_yaml

runner = CliRunner()

# test accuracy per activation and seed; mean and sample std worked out by hand below
TEST_ACC = {
    "relu": [0.90, 0.92, 0.97],  # mean 0.93, std sqrt((.0009 + .0001 + .0016) / 2) = 0.0360555
    "tanh": [0.85, 0.86, 0.87],  # mean 0.86, std 0.01
    "sigmoid": [0.50, 0.60, 0.40],  # mean 0.50, std 0.1
    "leaky_relu": [0.95, 0.94, 0.96],  # mean 0.95, std 0.01
}


RUN_NUMBERS = itertools.count()  # the random hex of a run id, made deterministic


def make_spec(name: str = "activations", seed: int = 0, activation: str = "relu", slope: float = 0.01,
              lr: float = 0.05, kernel: int = 3, epochs: int = 4) -> dict:
    act = {"name": activation, **({"negative_slope": slope} if activation == "leaky_relu" else {})}
    return {
        "name": name,
        "seed": seed,
        "data": {"dataset": {"name": "shapes", "train_size": 800}, "val_fraction": 0.1},
        "model": {
            "preset": None,
            "activation": act,
            "init": {"name": "kaiming_normal", "mode": "fan_in"},
            "norm": {"name": "batch", "eps": 1e-5, "momentum": 0.1},
            "conv": [{"out_channels": 16, "kernel_size": [kernel, kernel], "padding": "same"}],
            "fc": [64],
        },
        "train": {"epochs": epochs, "optimizer": {"name": "sgd", "lr": lr, "momentum": 0.9}},
    }


def write_run(group: Path, spec: dict, *, status: str = "completed", test_acc: float | None = 0.9,
              val_acc: list[float | None] | None = None, train_loss: list[float] | None = None,
              summary: bool = True, started: str = "2026-11-27T04:12:00") -> Path:
    """A run directory exactly as the trainer writes it; returns its path."""
    epochs = spec["train"]["epochs"]
    val_acc = val_acc if val_acc is not None else [(test_acc or 0.8) - 0.1 * (epochs - e) / epochs
                                                   for e in range(1, epochs + 1)]
    train_loss = train_loss if train_loss is not None else [1.0 / e for e in range(1, len(val_acc) + 1)]
    activation = spec["model"]["activation"]["name"]
    run_id = f"20261127-0412-{activation}-s{spec['seed']}-{next(RUN_NUMBERS):04x}"
    path = group / run_id
    path.mkdir(parents=True)
    (path / "spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    meta = {"status": status, "run_id": run_id, "name": spec["name"], "started": started, "ended": None,
            "duration_s": None, "seed": spec["seed"], "swept": {"model.activation": activation},
            "device": "cpu", "versions": {}, "host": platform.node(), "pid": os.getpid(), "heartbeat": now_iso(),
            "git_commit": None, "command": "cnnlab train", "error": None}
    (path / "meta.json").write_text(json.dumps(meta))
    lines = ["epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"]
    lines += [f"{e},{loss},0.5,0.4,{'' if acc is None else acc},0.05,2.5"
              for e, (loss, acc) in enumerate(zip(train_loss, val_acc, strict=True), start=1)]
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")
    if summary:
        present = [v for v in val_acc if v is not None]
        (path / "summary.json").write_text(json.dumps({
            "best_epoch": 1 + val_acc.index(max(present)) if present else epochs,
            "best_val_acc": max(present) if present else None, "best_val_loss": 0.3,
            "final_val_acc": val_acc[-1], "final_train_loss": train_loss[-1], "final_train_acc": 0.9,
            "epochs_run": len(val_acc), "test_acc": test_acc, "test_loss": 0.3, "params": 61706,
            "macs": 1_234_567, "train_seconds": 2.5 * len(val_acc), "images_per_second": 8712.4,
            "stopped_early": False, "diverged": status == "diverged"}))
    return path


@pytest.fixture(autouse=True)
def plain_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output as through a pipe whatever the environment says about terminals and colours."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sweep(tmp_path: Path) -> Path:
    """runs/activations/: 4 activations × 3 seeds, with the sweep.yaml of the group."""
    group = tmp_path / "runs" / "activations"
    for activation, accs in TEST_ACC.items():
        for seed, acc in enumerate(accs):
            write_run(group, make_spec(seed=seed, activation=activation), test_acc=acc)
    spec = make_spec() | {"sweep": {"model.activation": list(TEST_ACC)}, "seeds": [0, 1, 2]}
    (group / "sweep.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return group


def run(*args: str | Path):
    return runner.invoke(app, ["compare", *(str(a) for a in args)])


def ok(*args: str | Path) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


def fails(*args: str | Path) -> str:
    """Runs a command that must fail as a user error: exit 2, one `error:` line, no traceback."""
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def as_csv(*args: str | Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(ok(*args, "--format", "csv"))))


def as_json(*args: str | Path) -> list[dict]:
    return json.loads(ok(*args, "--format", "json"))


# --- aggregation -------------------------------------------------------------------------------


def test_seeds_are_aggregated_as_mean_sample_std_and_n(sweep: Path) -> None:
    rows = {r["model.activation"]: r for r in as_csv(sweep)}
    assert set(rows) == set(TEST_ACC)
    relu = rows["relu"]
    assert relu["n"] == "3"
    assert float(relu["test_acc_mean"]) == pytest.approx(0.93)
    assert float(relu["test_acc_std"]) == pytest.approx(math.sqrt(0.0013))
    assert float(rows["sigmoid"]["test_acc_std"]) == pytest.approx(0.1)
    assert float(relu["params_mean"]) == 61706 and float(relu["params_std"]) == 0
    assert relu["status"] == "3 completed"


def test_table_shows_mean_plus_minus_std_in_percent(sweep: Path) -> None:
    out = ok(sweep)
    relu_line = next(line for line in out.splitlines() if line.startswith("relu "))
    assert "93.00 ± 3.61" in relu_line
    assert "activations: sweep over model.activation — 4 configurations × 3 seeds (12 runs)" in out


def test_single_seed_has_no_std(tmp_path: Path) -> None:
    write_run(tmp_path, make_spec(activation="relu"), test_acc=0.9)
    write_run(tmp_path, make_spec(activation="tanh"), test_acc=0.8)
    write_run(tmp_path, make_spec(activation="tanh", seed=1), test_acc=0.7)
    rows = {r["model.activation"]: r for r in as_csv(tmp_path)}
    assert rows["relu"]["n"] == "1" and rows["relu"]["test_acc_std"] == ""
    assert "±" not in next(line for line in ok(tmp_path).splitlines() if line.startswith("relu "))


def test_unfinished_runs_are_counted_but_not_averaged(tmp_path: Path) -> None:
    for seed, acc in enumerate([0.9, 0.8]):
        write_run(tmp_path, make_spec(seed=seed), test_acc=acc)
    write_run(tmp_path, make_spec(seed=2), status="running", val_acc=[0.1], summary=False)
    write_run(tmp_path, make_spec(seed=3), status="failed", val_acc=[0.2], summary=False)
    (row,) = as_json(tmp_path)
    assert row["n"] == 2 and row["test_acc_mean"] == pytest.approx(0.85)
    assert row["status"] == {"completed": 2, "running": 1, "failed": 1}


def test_a_seed_run_twice_counts_once_by_its_latest_run(tmp_path: Path) -> None:
    write_run(tmp_path, make_spec(seed=0), test_acc=0.5, started="2026-01-01T00:00:00")
    write_run(tmp_path, make_spec(seed=0), test_acc=0.9, started="2026-02-01T00:00:00")
    write_run(tmp_path, make_spec(seed=1), test_acc=0.7)
    (row,) = as_json(tmp_path)
    assert row["n"] == 2 and row["test_acc_mean"] == pytest.approx(0.8)


def test_per_run_rows(sweep: Path) -> None:
    rows = as_json(sweep, "--per-run")
    assert len(rows) == 12
    assert {r["seed"] for r in rows} == {0, 1, 2}
    assert all(r["run_id"] in r["path"] and isinstance(r["test_acc"], float) for r in rows)
    assert all(len(r["val_acc_curve"]) == 4 for r in rows)
    assert len(as_json(sweep, "--no-aggregate")) == 12


def test_runs_without_repeated_seeds_are_shown_per_run(tmp_path: Path) -> None:
    a = write_run(tmp_path, make_spec(activation="relu"))
    write_run(tmp_path, make_spec(activation="tanh"))
    out = ok(tmp_path)
    assert a.name in out and "one row per run" in out
    assert len(as_json(tmp_path, "--aggregate")) == 2


# --- columns -----------------------------------------------------------------------------------


def test_only_differing_keys_are_columns(sweep: Path) -> None:
    (header, *_) = csv.reader(io.StringIO(ok(sweep, "--format", "csv")))
    keys = [h for h in header if "." in h]
    # negative_slope exists only for leaky_relu: the activation alone determines it
    assert keys == ["model.activation"]
    every = next(csv.reader(io.StringIO(ok(sweep, "--format", "csv", "--all-params"))))
    assert {"train.optimizer.lr", "model.conv[0].kernel_size", "model.activation.negative_slope"} <= {*every}
    assert "seed" not in every  # seeds are what a group aggregates over


def test_option_of_a_choice_gets_a_column_when_it_varies(tmp_path: Path) -> None:
    for slope in (0.01, 0.2):
        write_run(tmp_path, make_spec(activation="leaky_relu", slope=slope))
    write_run(tmp_path, make_spec(activation="relu"))
    rows = as_json(tmp_path)
    assert {r["model.activation.negative_slope"] for r in rows} == {0.01, 0.2, None}


def pooled(pool: dict | None, stride: int = 1) -> dict:
    spec = make_spec()
    spec["model"]["conv"] = [{"out_channels": 16, "kernel_size": [3, 3], "stride": [stride, stride], "pool": pool}]
    return spec


MAX_POOL = {"type": "max", "kernel_size": [2, 2], "stride": [2, 2]}


@pytest.mark.parametrize(("pools", "keys"), [
    ([MAX_POOL, {**MAX_POOL, "type": "avg"}, None], ["model.conv[0].stride", "model.conv[0].pool.type"]),
    ([MAX_POOL, None], ["model.conv[0].stride", "model.conv[0].pool.type"]),  # pool.type alone says there is one
    ([MAX_POOL, {**MAX_POOL, "kernel_size": [3, 3]}, None],
     ["model.conv[0].stride", "model.conv[0].pool.kernel_size"]),
])
def test_a_layer_without_a_pool_beside_pooled_ones_shows_null_under_the_pool_key_that_differs(
        tmp_path: Path, pools: list, keys: list[str]) -> None:
    """Not `model.conv[0].pool` (null, or blank for a mapping) beside `model.conv[0].pool.type`."""
    for pool in pools:
        write_run(tmp_path, pooled(pool, stride=1 if pool else 2))
    (header, *_) = csv.reader(io.StringIO(ok(tmp_path, "--format", "csv")))
    assert [h for h in header if h.startswith("model.")] == keys
    rows = as_json(tmp_path)
    assert {r["model.conv[0].stride"][0]: r[keys[1]] for r in rows if r[keys[1]] is None} == {2: None}
    table = ok(tmp_path)
    assert "model.conv[0].pool " not in table and "null" in table


def test_depth_shows_as_the_length_of_the_layer_list(tmp_path: Path) -> None:
    for depth in (1, 2, 3):
        spec = make_spec()
        spec["model"]["conv"] = [{"out_channels": 16 * 2**i, "kernel_size": [3, 3]} for i in range(depth)]
        write_run(tmp_path, spec)
    (header, *_) = csv.reader(io.StringIO(ok(tmp_path, "--format", "csv")))
    # layers 2 and 3 exist only in the deeper nets: their length says it all
    assert [h for h in header if "model" in h] == ["len(model.conv)"]
    assert sorted(r["len(model.conv)"] for r in as_json(tmp_path, "--where", "len(model.conv)>=2")) == [2, 3]


def test_swept_keys_come_first_and_lists_are_one_value(tmp_path: Path) -> None:
    group = tmp_path / "conv"
    for kernel in (3, 5):
        write_run(group, make_spec(name="conv", lr=0.1 * kernel, kernel=kernel))
    spec = make_spec(name="conv") | {"sweep": {"model.conv[0].kernel_size": [3, 5]}}
    (group / "sweep.yaml").write_text(yaml.safe_dump(spec))
    (header, *rows) = csv.reader(io.StringIO(ok(group, "--format", "csv")))
    assert header[:3] == ["run_id", "path", "model.conv[0].kernel_size"]
    assert {r[2] for r in rows} == {"[3, 3]", "[5, 5]"}
    assert {r["model.conv[0].kernel_size"][0] for r in as_json(group)} == {3, 5}


def test_metrics_option_chooses_columns(sweep: Path) -> None:
    (header, *_) = csv.reader(io.StringIO(ok(sweep, "--format", "csv", "--metrics", "test_acc,params")))
    assert header == ["model.activation", "n", "test_acc_mean", "test_acc_std", "params_mean", "params_std"]
    assert "did you mean \"test_acc\"" in fails(sweep, "--metrics", "test_ac")


# --- sorting and filtering ---------------------------------------------------------------------


def activations(*args: str | Path) -> list[str]:
    return [r["model.activation"] for r in as_json(*args, "--all-params")]


def test_sorted_by_test_accuracy_best_first(sweep: Path) -> None:
    assert activations(sweep) == ["leaky_relu", "relu", "tanh", "sigmoid"]
    assert activations(sweep, "--asc") == ["sigmoid", "tanh", "relu", "leaky_relu"]
    assert activations(sweep, "--sort", "model.activation", "--asc") == sorted(TEST_ACC)
    assert activations(sweep, "--top", "2") == ["leaky_relu", "relu"]
    assert "top 2 of 4" in ok(sweep, "--top", "2")
    assert "test acc % ▼" in ok(sweep)


def test_sort_falls_back_to_val_accuracy_and_puts_missing_last(tmp_path: Path) -> None:
    write_run(tmp_path, make_spec(activation="relu"), test_acc=None, val_acc=[0.5, 0.6])
    write_run(tmp_path, make_spec(activation="tanh"), test_acc=None, val_acc=[0.7, 0.8])
    write_run(tmp_path, make_spec(activation="elu"), test_acc=None, val_acc=[None, None])
    assert activations(tmp_path) == ["tanh", "relu", "elu"]
    assert activations(tmp_path, "--asc") == ["relu", "tanh", "elu"]
    assert "best val acc % ▼" in ok(tmp_path)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("model.activation=relu", ["relu"]),
        ("model.activation.name=tanh", ["tanh"]),
        ("model.activation!=sigmoid", ["leaky_relu", "relu", "tanh"]),
        ("test_acc>0.9", ["leaky_relu", "relu"]),  # on the mean over seeds
        ("test_acc>=93", ["leaky_relu", "relu"]),  # percent, as the table shows it
        ("val_acc<0.9", ["tanh", "sigmoid"]),
        ("train.optimizer.lr=5e-2", ["leaky_relu", "relu", "tanh", "sigmoid"]),
        ("model.conv[0].kernel_size=[3, 3]", ["leaky_relu", "relu", "tanh", "sigmoid"]),
        ("status=completed", ["leaky_relu", "relu", "tanh", "sigmoid"]),
    ],
)
def test_where_filters(sweep: Path, condition: str, expected: list[str]) -> None:
    assert activations(sweep, "--where", condition) == expected


def test_title_names_the_filters(sweep: Path) -> None:
    title = ok(sweep, "-w", "model.activation!=relu", "-w", "seed=0").splitlines()[0]
    assert title == "activations: sweep over model.activation — 3 runs — where model.activation!=relu and seed=0"


def test_where_on_seed_picks_runs_before_aggregation(sweep: Path) -> None:
    rows = as_json(sweep, "--where", "seed=2", "-w", "model.activation=sigmoid", "--aggregate")
    assert [(r["n"], r["test_acc_mean"]) for r in rows] == [(1, 0.40)]
    assert [r["seed"] for r in as_json(sweep, "--where", "seed=2", "--all-params")] == [2, 2, 2, 2]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("model.activaton=relu", "unknown --where key 'model.activaton' (did you mean \"model.activation"),
        ("test_ac>0.9", '(did you mean "test_acc"?)'),
        ("model.activation=rleu", "no run has model.activation=rleu (model.activation is one of: leaky_relu"),
        ("model.activation", "cannot read --where 'model.activation'"),
        ("test_acc>high", "'>' needs a number"),
    ],
)
def test_where_mistakes_are_one_line_errors(sweep: Path, condition: str, message: str) -> None:
    assert message in fails(sweep, "--where", condition)


def test_unknown_sort_key_and_format_are_one_line_errors(sweep: Path) -> None:
    assert 'did you mean "test_acc"' in fails(sweep, "--sort", "test-acc")
    assert "'markdwn' is not one of 'table', 'csv', 'json', 'markdown'" in fails(sweep, "--format", "markdwn")


# --- formats -----------------------------------------------------------------------------------


def test_json_and_csv_hold_the_same_raw_numbers(sweep: Path) -> None:
    from_json = {r["model.activation"]: r for r in as_json(sweep)}
    from_csv = {r["model.activation"]: r for r in as_csv(sweep)}
    for activation, accs in TEST_ACC.items():
        assert from_json[activation]["test_acc_mean"] == pytest.approx(sum(accs) / 3)
        assert float(from_csv[activation]["test_acc_mean"]) == from_json[activation]["test_acc_mean"]
        assert len(from_json[activation]["runs"]) == 3
        assert len(from_json[activation]["val_acc_curve"]) == 4


def test_markdown_is_a_pipe_table(sweep: Path) -> None:
    lines = ok(sweep, "--format", "markdown").splitlines()
    assert lines[0].startswith("**activations")
    table = lines[2:]
    assert len(table) == 2 + 4 and all(line.startswith("| ") or line.startswith("|-") for line in table)
    assert len({line.count("|") for line in table}) == 1
    assert "| leaky_relu |" in table[2] and "95.00 ± 1.00" in table[2]


def test_sparkline_follows_the_curve_on_a_shared_scale() -> None:
    assert sparkline([0.0, 0.5, 1.0], 0.0, 1.0) == "▁▅█"
    assert sparkline([0.5, 0.5], 0.0, 1.0) == "▅▅"
    assert sparkline([0.2, 0.2], 0.2, 0.2) == "▄▄"  # no spread at all: mid-height
    long = sparkline([i / 99 for i in range(100)], 0.0, 1.0, width=10)
    assert len(long) == 10 and list(long) == sorted(long)


def test_table_has_a_sparkline_per_row(sweep: Path) -> None:
    out = ok(sweep)
    assert all(any(block in line for block in "▁▂▃▄▅▆▇█") for line in out.splitlines() if "completed" in line)


def test_narrow_terminal_leaves_out_the_least_needed_columns(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "80")
    coloured = ok(sweep)
    assert "\x1b[1;32m95.00 ± 1.00\x1b[0m" in coloured  # the best test accuracy, in bold green
    plain = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    lines = plain.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "test acc % ▼" in lines[2] and "img/s" not in lines[2]
    assert "left out to fit 80 columns: img/s, MACs" in " ".join(plain.split())
    wide = ok(sweep, "--metrics", "test_acc,images_per_second,macs,params,epochs,train_seconds,status")
    assert "img/s" in wide and "left out" not in wide  # columns asked for are always shown


def test_diverged_run_with_nan_loss(tmp_path: Path) -> None:
    write_run(tmp_path, make_spec(activation="sigmoid"), status="diverged", val_acc=[0.1, 0.1],
              train_loss=[2.3, float("nan")], test_acc=0.1)
    write_run(tmp_path, make_spec(activation="relu"))
    rows = {r["model.activation"]: r for r in as_json(tmp_path)}
    assert rows["sigmoid"]["final_train_loss"] is None and rows["sigmoid"]["status"] == "diverged"
    assert "nan" in ok(tmp_path)


# --- plots -------------------------------------------------------------------------------------


def test_plot_writes_a_png(sweep: Path, tmp_path: Path) -> None:
    out = tmp_path / "curves.png"
    result = run(sweep, "--plot", out)
    assert result.exit_code == 0, result.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left
    assert f"wrote {out}" in result.stderr
    per_run = tmp_path / "per-run.svg"  # per-run rows are drawn per configuration all the same
    assert run(sweep, "--per-run", "--plot", per_run).exit_code == 0
    assert per_run.read_text().count("<svg") == 1 and "leaky_relu" in per_run.read_text()


def test_the_band_across_seeds_is_chosen_and_the_legend_says_which(sweep: Path, tmp_path: Path) -> None:
    default, chosen = tmp_path / "default.svg", tmp_path / "ci95.svg"
    assert run(sweep, "--plot", default).exit_code == 0
    assert run(sweep, "--plot", chosen, "--band", "ci95").exit_code == 0

    def text(svg: Path) -> str:  # the words of the figure, which SVG keeps in comments (where `--` reads `- -`)
        return svg.read_text().replace("- -", "--")

    assert "band: min–max over seeds (the default; --band std, sem, ci95)" in text(default)
    assert "band: 95% confidence interval of the mean (Student's t) (--band minmax, std, sem)" in text(chosen)
    assert fails(sweep, "--band", "sem") == "error: --band draws a band on the curve plot: give --plot FILE with it"


def test_each_band_is_its_statistic_of_the_seeds_at_each_epoch() -> None:
    from scipy import stats

    from cnnlab.compare.bands import BANDS, edges
    from cnnlab.compare.rows import Band

    values = [0.5, 0.7, 0.6]  # three seeds at one epoch
    mean, std, n = 0.6, stats.tstd(values), 3
    band = Band((1,), (mean,), (min(values),), (max(values),), (std,), (n,))
    half = {"minmax": None, "std": std, "sem": stats.sem(values), "ci95": stats.t.ppf(0.975, n - 1) * stats.sem(values)}
    assert set(BANDS) == set(half)
    for name, width in half.items():
        low, high = edges(band, name)
        expected = (0.5, 0.7) if width is None else (mean - width, mean + width)
        assert (low[0], high[0]) == pytest.approx(expected, rel=1e-9), name


def test_plot_to_an_unwritable_name_fails_before_any_work(sweep: Path, tmp_path: Path) -> None:
    assert "end the name in one of" in fails(sweep, "--plot", tmp_path / "curves.xyz")
    assert "does not exist" in fails(sweep, "--plot", tmp_path / "nowhere" / "curves.png")


# --- what is found, and broken run directories -------------------------------------------------


def test_paths_mix_runs_sweeps_and_roots_each_run_counted_once(sweep: Path) -> None:
    one_run = next(p for p in sweep.iterdir() if p.is_dir())
    rows = as_json(sweep.parent, sweep, one_run)
    assert sorted(r["n"] for r in rows) == [3, 3, 3, 3]
    (single,) = as_json(one_run)
    assert single["run_id"] == one_run.name


def test_broken_run_dirs_warn_in_one_line_and_never_trace_back(tmp_path: Path) -> None:
    good = write_run(tmp_path, make_spec(activation="relu"), test_acc=0.9)
    write_run(tmp_path, make_spec(activation="relu", seed=1), test_acc=0.8)
    bad_meta = write_run(tmp_path, make_spec(activation="tanh"))
    (bad_meta / "meta.json").write_text("{not json")
    bad_csv = write_run(tmp_path, make_spec(activation="elu"), summary=False, status="interrupted")
    (bad_csv / "metrics.csv").write_bytes(b"\x00\xff garbage \x13\n1,2,3")
    half_csv = write_run(tmp_path, make_spec(activation="gelu"), summary=False, status="running",
                         val_acc=[0.6, 0.8])
    with (half_csv / "metrics.csv").open("a") as f:
        f.write("3,0.3,0.5,0.4,0.7,0.05,2.5\nfour,x\n")
    bad_spec = write_run(tmp_path, make_spec(activation="silu"))
    (bad_spec / "spec.yaml").write_text("model: [unclosed\n")
    no_spec = write_run(tmp_path, make_spec(activation="selu"))
    (no_spec / "spec.yaml").unlink()
    bad_summary = write_run(tmp_path, make_spec(activation="mish"))
    (bad_summary / "summary.json").write_text("[1, 2]")
    (tmp_path / "empty-dir").mkdir()

    result = run(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    warnings = result.stderr.strip().splitlines()
    assert all(w.startswith("warning: ") for w in warnings)
    assert any(str(bad_spec) in w and "spec.yaml is unreadable: not valid YAML" in w for w in warnings)
    assert any(str(no_spec) in w and "spec.yaml is missing" in w for w in warnings)
    assert any(str(bad_meta) in w and "meta.json is not valid JSON" in w for w in warnings)
    assert any(str(bad_csv) in w and "metrics.csv" in w for w in warnings)
    assert any(str(half_csv) in w and "skipped 1 unreadable row" in w for w in warnings)
    assert any(str(bad_summary) in w and "summary.json is malformed" in w for w in warnings)
    rows = {r["model.activation"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"relu", "tanh", "elu", "gelu", "mish"}
    assert rows["relu"]["n"] == 2 and good.name in rows["relu"]["runs"][0] + rows["relu"]["runs"][1]
    assert rows["tanh"]["status"] == {"unknown": 1}
    assert rows["elu"]["status"] == {"interrupted": 1} and rows["elu"]["epochs_mean"] is None
    # a running run without summary.json shows what metrics.csv has so far: 3 epochs, val acc 0.7
    assert rows["gelu"]["epochs_mean"] == 3 and rows["gelu"]["best_val_acc_mean"] == pytest.approx(0.8)
    assert rows["gelu"]["final_val_acc_mean"] == pytest.approx(0.7)


@pytest.mark.parametrize("record", ["meta.json", "summary.json", "sweep.yaml"])
def test_a_file_of_a_newer_cnnlab_is_refused_in_one_line(tmp_path: Path, record: str) -> None:
    """Whatever this cnnlab showed of it could be wrong: ls and compare stop with what to do."""
    write_run(tmp_path, make_spec(activation="tanh"))
    newer = write_run(tmp_path, make_spec(activation="relu"))
    path = newer / record if record != "sweep.yaml" else tmp_path / record
    if record == "sweep.yaml":
        path.write_text(dump_yaml({"schema_version": 2, "name": "activations"}))
    else:
        path.write_text(json.dumps({**json.loads(path.read_text()), "schema_version": 2}))
    for command in ("ls", "compare"):
        result = runner.invoke(app, [command, str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert result.stderr == f"error: {path}: written by a newer cnnlab (schema 2; this one reads 1): " \
                                "upgrade cnnlab\n"
        assert result.stdout == ""


def test_nothing_to_compare_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    assert "no runs found under" in fails(tmp_path / "runs")
    assert "does not exist" in fails(tmp_path / "nope")
    broken = write_run(tmp_path / "runs", make_spec())
    (broken / "spec.yaml").write_text(":")
    result = run(tmp_path / "runs")
    assert result.exit_code == 2 and "could be read" in result.stderr and "Traceback" not in result.output


def test_without_paths_compares_the_runs_folder_here(sweep: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(sweep.parent.parent)
    assert "4 configurations × 3 seeds" in ok()
    monkeypatch.chdir(sweep)
    assert "no runs/ here" in fails()


def test_help_shows_an_example() -> None:
    result = run("--help")
    assert result.exit_code == 0 and "cnnlab compare runs/activations" in result.stdout


# --- imports -----------------------------------------------------------------------------------

def test_compare_never_imports_torch_and_matplotlib_only_to_plot(sweep: Path, tmp_path: Path, heavy_imports) -> None:
    assert heavy_imports(["compare", sweep]) == []
    assert heavy_imports(["compare", sweep, "--plot", tmp_path / "c.png"]) == ["PIL", "matplotlib"]  # PIL: matplotlib's


# --- reading spec.yaml piecewise ---------------------------------------------------------------

READER = SpecReader()  # shared across examples, so its cache of pieces is exercised too

keys = st.text(alphabet="abcxyz_.019", min_size=1, max_size=6)
scalars = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False)
           | st.text(max_size=12))  # cnnlab reads 64-bit integers only
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3),
                      max_leaves=12)


@settings(max_examples=200, deadline=None)
@given(spec=st.dictionaries(keys, values, min_size=1, max_size=5), dumper=st.sampled_from([dump_yaml, yaml.safe_dump]))
def test_spec_reader_reads_what_yaml_reads(spec: dict, dumper) -> None:
    text = dumper(spec)
    expected = flatten_spec(yaml.safe_load(text))
    got = READER(text)
    assert got == expected and list(got) == list(expected)


@pytest.mark.parametrize(
    "text",
    [
        "name: a\nseed: 1\nmodel: &m {activation: relu}\ncopy: *m\n",  # an alias across sections
        "# written by hand\n---\nname: a\nseed: 1\n...\n",
        "model: {activation: relu,\n fc: [1]}\nseed: 2\n",
        "name: >\n  folded\n  text\nseed: 0\n",
        "seed: 3\nmodel:\n  fc: [1, 2]\nmodel:\n  fc: [3]\n",
    ],
)
def test_spec_reader_handles_yaml_that_does_not_split(text: str) -> None:
    assert READER(text) == flatten_spec(yaml.safe_load(text))


def test_spec_reader_reports_errors_at_their_line(tmp_path: Path) -> None:
    write_run(tmp_path, make_spec(activation="relu"))
    broken = write_run(tmp_path, make_spec(activation="tanh"))
    (broken / "spec.yaml").write_text("name: x\nseed: 0\nmodel:\n  fc: [1, 2\n")
    result = run(tmp_path)
    assert "spec.yaml is unreadable: not valid YAML at line 5" in result.stderr


# --- files no cnnlab wrote: overflowing numbers, hostile YAML, vanished processes ---------------

def test_numbers_that_overflow_make_their_run_unreadable_and_the_rest_is_shown(tmp_path: Path) -> None:
    good = write_run(tmp_path, make_spec(activation="relu"), test_acc=0.9)
    spoiled = {}
    for activation, (name, edit) in {
        "tanh": ("summary.json", lambda t: t.replace('"params": 61706', '"params": 1e400')),
        "elu": ("summary.json", lambda t: t.replace('"params": 61706', '"params": ' + "9" * 400)),
        "gelu": ("spec.yaml", lambda t: t.replace("seed: 0", "seed: " + "9" * 5000)),
        "silu": ("spec.yaml", lambda t: t + "extra: !!set {a, b}\n"),
        "sigmoid": ("metrics.csv", lambda t: t.replace("\n2,", "\n" + "9" * 5000 + ",")),
    }.items():
        run_dir = write_run(tmp_path, make_spec(activation=activation))
        (run_dir / name).write_text(edit((run_dir / name).read_text()))
        spoiled[activation] = run_dir
    result = run(tmp_path, "--per-run", "--format", "json")
    assert result.exit_code == 0, result.output
    warnings = result.stderr
    assert f"{spoiled['tanh']}: summary.json is malformed (params: Input should be a finite number)" in warnings
    assert f"{spoiled['elu']}: summary.json is malformed (params: Input should be less than or equal" in warnings
    assert f"skipping {spoiled['gelu']}: spec.yaml is unreadable: a 5000-digit integer is too large" in warnings
    assert f"skipping {spoiled['silu']}: spec.yaml is unreadable: unsupported YAML tag !!set" in warnings
    assert f"{spoiled['sigmoid']}: metrics.csv: skipped 1 unreadable row(s)" in warnings
    shown = {row["run_id"]: row for row in json.loads(result.stdout)}
    assert shown[good.name]["test_acc"] == 0.9
    assert len(shown) == 4  # the two runs whose spec.yaml cannot be read are skipped, the others shown


def test_a_running_run_whose_process_is_gone_shows_as_stale(tmp_path: Path) -> None:
    import subprocess

    dead_pid = subprocess.Popen(["true"])  # a process that has exited and been reaped: its pid names nothing
    dead_pid.wait()
    for activation, pid, host, beat in [("relu", dead_pid.pid, platform.node(), now_iso()),
                                        ("tanh", os.getpid(), platform.node(), now_iso()),
                                        ("elu", 1, "another-host", "2020-01-01T00:00:00+00:00"),
                                        ("gelu", 1, "another-host", now_iso())]:
        path = write_run(tmp_path, make_spec(activation=activation), status="running", summary=False)
        meta = json.loads((path / "meta.json").read_text())
        (path / "meta.json").write_text(json.dumps({**meta, "pid": pid, "host": host, "heartbeat": beat}))
    statuses = {row["model.activation"]: row["status"] for row in as_json(tmp_path, "--per-run")}
    assert statuses == {"relu": "stale", "tanh": "running", "elu": "stale", "gelu": "running"}


def test_figures_of_the_learning_curve_are_columns(tmp_path: Path, make_run) -> None:
    group = tmp_path / "runs" / "acts"
    for seed, curve in enumerate([[0.5, 0.92, 0.95], [0.6, 0.7, 0.8]]):  # the second never reaches 0.9
        make_run(group, seed=seed, swept={"model.activation": "relu"}, val_acc=curve)
    result = CliRunner().invoke(app, ["compare", str(group), "--metrics", "epochs_to(val_acc >= 0.90), auc(val_acc)",
                                      "--format", "csv", "--no-aggregate"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    figures = [(float(r["epochs_to(val_acc>=0.9)"]), float(r["auc(val_acc)"])) for r in rows]
    assert sorted(figures) == [(2, pytest.approx(0.79)), (3, pytest.approx(0.7))]
    table = CliRunner().invoke(app, ["compare", str(group), "--metrics", "epochs_to(val_acc>=0.9)"]).stdout
    assert "epochs to val acc ≥ 0.9" in table and "2.5 ± 0.7" in table  # the run never there counts as 2 + 1
    for bad in ("epochs_to(val_acc)", "auc(test_acc)"):
        result = CliRunner().invoke(app, ["compare", str(group), "--metrics", bad])
        assert result.exit_code == 2 and result.stderr.startswith("error: --metrics: ") and \
            result.stderr.count("\n") == 1
