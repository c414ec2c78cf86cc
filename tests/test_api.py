"""The Python API (docs/python.md): cnnlab.train through the command's planner gives the command's run
directories; the loaders give what `cnnlab compare` reads, as DataFrames, without torch; mistakes
raise the CnnlabError whose message the command prints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

import cnnlab
from cnnlab.rundir.csv_files import diagnostics_csv
from cnnlab.rundir.records import DiagnosticsRow
from tests.conftest import HEAVY_MODULES, TINY

ROOT = Path(__file__).resolve().parent.parent


def python(code: str | Path, *args: object, cwd: Path | None = None) -> str:
    """Run `code` (or the script at that path) in a fresh interpreter (argv[1:] = args) that imports this
    cnnlab; its standard output."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    program = [str(code)] if isinstance(code, Path) else ["-c", code]
    done = subprocess.run([sys.executable, *program, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def runs(tmp_path, make_run) -> Path:
    """A sweep of 2 activations × 2 seeds, written through the records, one run with diagnostics."""
    group = tmp_path / "runs" / "act"
    accs = {("relu", 0): 0.9, ("relu", 1): 0.8, ("tanh", 0): 0.6, ("tanh", 1): 0.7}
    for (activation, seed), acc in accs.items():
        path = make_run(group, seed=seed, swept={"model.activation": activation}, test_acc=acc, val_acc=[acc / 2, acc])
        if (activation, seed) == ("relu", 0):
            rows = [DiagnosticsRow(epoch=e, layer=layer, depth=d, activation="relu", statistic="act_std", value=v)
                    for e in (0, 2) for d, (layer, v) in enumerate((("conv1", 0.5 + e), ("fc1", 0.25 * e)), 1)]
            (path / "diagnostics.csv").write_text(diagnostics_csv(rows))
    return group


LOADERS = """
import json, sys
import cnnlab
runs = cnnlab.load_runs(sys.argv[1])
out = {"after_load_runs": sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))}
metrics, diagnostics = cnnlab.load_metrics(sys.argv[1]), cnnlab.load_diagnostics(sys.argv[1])
table = cnnlab.compare(sys.argv[1])
layers = cnnlab.shape(["conv:6,k5", "pool:max,k2", "conv:16,k5"], input="1x32x32")
run = cnnlab.Run(runs.path[0])
out.update(
    heavy=sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2]))),
    runs=runs[["id", "status", "seed", "model.activation", "test_acc", "epochs_run"]].to_dict("records"),
    metrics=metrics.to_dict("records"), diagnostics=diagnostics.to_dict("records"),
    compare=table[["model.activation", "n", "test_acc_mean", "test_acc_std"]].to_dict("records"),
    layers=layers[["layer", "params", "macs", "rf_h"]].to_dict("records"), output=list(layers.output[2]),
    run=[run.id, run.status, run.summary.test_acc, run.meta.swept, run.spec.model.activation.name,
         run.metrics.val_acc.tolist()],
)
print(json.dumps(out))
"""


def test_the_loaders_read_what_compare_reads_and_import_no_torch(runs):
    import_only = python("import sys, cnnlab; print(sorted(m for m in sys.modules if m.split('.')[0] in "
                         f"{list(HEAVY_MODULES) + ['pandas']}))")
    assert import_only.strip() == "[]"
    out = json.loads(python(LOADERS, runs, json.dumps([*HEAVY_MODULES, "pandas"])))
    assert out["after_load_runs"] == ["pandas"] and out["heavy"] == ["pandas"]
    by_key = {(r["model.activation"], r["seed"]): r for r in out["runs"]}
    assert by_key[("relu", 1)]["test_acc"] == 0.8 and by_key[("tanh", 0)]["status"] == "completed"
    assert all(r["epochs_run"] == 2 for r in out["runs"]) and len(out["runs"]) == 4
    ids = {r["id"] for r in out["runs"]}
    assert len(out["metrics"]) == 8 and {m["id"] for m in out["metrics"]} == ids
    assert [m["epoch"] for m in out["metrics"]] == [1, 2] * 4
    assert len(out["diagnostics"]) == 4 and {d["layer"] for d in out["diagnostics"]} == {"conv1", "fc1"}
    assert {(d["epoch"], d["layer"], d["value"]) for d in out["diagnostics"]} >= {(2, "conv1", 2.5), (2, "fc1", 0.5)}
    compared = {c["model.activation"]: c for c in out["compare"]}
    assert compared["relu"]["n"] == 2 and compared["relu"]["test_acc_mean"] == pytest.approx(0.85)
    assert compared["tanh"]["test_acc_std"] == pytest.approx(0.0707107, rel=1e-5)
    assert [row["params"] for row in out["layers"]] == [156, 0, 2416] and out["output"] == [16, 10, 10]
    assert out["layers"][2]["rf_h"] == 14 and out["layers"][0]["macs"] == 6 * 25 * 28 * 28  # 5 + 1 + 2·4
    run_id, status, test_acc, swept, activation, val_acc = out["run"]
    assert run_id in ids and status == "completed" and activation == swept["model.activation"]
    assert val_acc == [test_acc / 2, test_acc]


def test_the_tables_are_compares_own_numbers(runs, cli):
    """cnnlab.compare is `cnnlab compare --format json`, and load_runs the spec and summary of every run."""
    table = cnnlab.compare(runs, sort="test_acc")
    shown = json.loads(cli("compare", runs, "--format", "json", "--sort", "test_acc").stdout)
    assert table.drop(columns=["status"]).to_dict("records") == [
        {k: v for k, v in row.items() if k != "status"} for row in shown]
    assert list(table.status) == ["2 completed", "2 completed"]
    per_run = cnnlab.compare(runs, aggregate=False, metrics=["test_acc"], where=["model.activation=relu"])
    assert sorted(per_run.test_acc) == [0.8, 0.9] and set(per_run.columns) >= {"run_id", "path", "test_acc"}
    loaded = cnnlab.load_runs(runs)
    assert list(loaded.columns[:5]) == ["id", "path", "status", "started", "name"]
    for row in loaded.to_dict("records"):
        spec = yaml.safe_load((Path(row["path"]) / "spec.yaml").read_text())
        assert (row["name"], row["seed"], row["train.optimizer.lr"]) == (
            spec["name"], spec["seed"], spec["train"]["optimizer"]["lr"])
        assert row["model.conv[0].kernel_size"] == tuple(spec["model"]["conv"][0]["kernel_size"])
        assert json.loads((Path(row["path"]) / "summary.json").read_text())["test_acc"] == row["test_acc"]


def test_a_run_without_a_summary_shows_what_its_metrics_csv_has(tmp_path, make_run):
    make_run(tmp_path / "runs" / "going", status="interrupted", test_acc=None, val_acc=[0.3, 0.6])
    [row] = cnnlab.load_runs(tmp_path / "runs").to_dict("records")
    assert (row["status"], row["epochs_run"], row["best_val_acc"], row["best_epoch"]) == ("interrupted", 2, 0.6, 2)
    assert row["test_acc"] is None


@pytest.mark.parametrize("call", [
    lambda path: cnnlab.load_runs(path), lambda path: cnnlab.compare(path), lambda path: cnnlab.load_metrics(path)])
def test_a_loader_raises_the_error_compare_prints(call, cli, tmp_path, make_run):
    """No such folder, no runs in it, and a run of a newer schema (whose numbers may mean something else)."""
    (tmp_path / "empty").mkdir()
    meta = make_run(tmp_path / "newer" / "act") / "meta.json"
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "schema_version": 2}))
    for path in (tmp_path / "absent", tmp_path / "empty", tmp_path / "newer"):
        with pytest.raises(cnnlab.CnnlabError) as err:
            call(path)
        assert cli("compare", path).stderr == f"error: {err.value}\n"
    assert str(err.value) == f"{meta}: written by a newer cnnlab (schema 2; this one reads 1): upgrade cnnlab"


def test_train_and_run_mistakes_raise_the_commands_error(cli, tiny_spec, tmp_path):
    cases = [  # the API's call, and the command that prints the same line
        (lambda: cnnlab.train(tmp_path / "nope.yaml"), ["train", tmp_path / "nope.yaml"]),
        (lambda: cnnlab.train(tiny_spec(), overrides=["model.activation=relux"], runs_dir=tmp_path / "r"),
         ["train", tiny_spec(), "--set", "model.activation=relux", "--runs-dir", tmp_path / "r"]),
        (lambda: cnnlab.Run(tmp_path), ["eval", tmp_path]),
        (lambda: cnnlab.shape(["conv:6,q5"], input="1x32x32"), ["shape", "--input", "1x32x32", "conv:6,q5"]),
    ]
    for call, command in cases:
        with pytest.raises(cnnlab.CnnlabError) as err:
            call()
        assert cli(*command).stderr == f"error: {err.value}\n", command
    with pytest.raises(cnnlab.CnnlabError, match=r"^model\.activation: unknown activation 'relux'"):
        cnnlab.train({**TINY, "model": {"activation": "relux"}}, runs_dir=tmp_path / "r")
    with pytest.raises(cnnlab.CnnlabError, match="--jobs 0: at least 1"):
        cnnlab.train(tiny_spec(), jobs=0)
    assert not (tmp_path / "r").exists()


TRAIN = """
import json, sys
import cnnlab
spec, runs_dir = sys.argv[1], sys.argv[2]
with open(spec) as f:
    import yaml
    mapping = yaml.safe_load(f)
first = cnnlab.train(spec, overrides=["train.epochs=2"], runs_dir=runs_dir + "/file", quiet=True)
again = cnnlab.train(spec, overrides={"train.epochs": 2}, runs_dir=runs_dir + "/file", quiet=True)
from_mapping = cnnlab.train(mapping, overrides=["train.epochs=2"], runs_dir=runs_dir + "/mapping", quiet=True)
model = first[0].load_model()
print(json.dumps({
    "first": [[str(r.path), r.status] for r in first], "again": [str(r.path) for r in again],
    "mapping": [str(r.path) for r in from_mapping],
    "model": [type(model).__name__, model.training, sum(p.numel() for p in model.parameters())],
    "params": first[0].summary.params,
}))
"""


def metric_rows(run: Path) -> list[dict]:
    rows = pd.read_csv(run / "metrics.csv").to_dict("records")
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_train_makes_the_run_directories_of_the_command(cli, tiny_spec, tmp_path):
    spec = tiny_spec(sweep={"model.activation": ["relu", "tanh"]})
    assert cli("train", spec, "--set", "train.epochs=2", "--runs-dir", tmp_path / "cli").exit_code == 0
    out = json.loads(python(TRAIN, spec, tmp_path / "api", cwd=tmp_path))
    assert [status for _, status in out["first"]] == ["completed", "completed"]
    assert out["again"] == [path for path, _ in out["first"]]  # completed: skipped, the same runs returned
    assert out["model"] == ["Sequential", False, out["params"]]
    by_cli = sorted((tmp_path / "cli" / "tiny").glob("*/spec.yaml"))
    for made in (out["first"], [[path] for path in out["mapping"]]):
        paths = [Path(item[0]) for item in made]
        assert [p.name.split("-")[2] for p in paths] == ["relu", "tanh"]
        for cli_run, api_run in zip(sorted(p.parent for p in by_cli), sorted(paths), strict=True):
            assert (api_run / "spec.yaml").read_text() == (cli_run / "spec.yaml").read_text()
            assert metric_rows(api_run) == metric_rows(cli_run)
            assert sorted(p.name for p in api_run.iterdir()) == sorted(p.name for p in cli_run.iterdir())
    meta = json.loads((Path(out["mapping"][0]) / "meta.json").read_text())
    assert meta["command"].startswith("'cnnlab.train(<spec mapping>)' --set train.epochs=2")


def test_a_run_is_a_read_only_view_of_its_directory(runs):
    path = next(runs.glob("*-s0"))
    run = cnnlab.Run(str(path))
    assert run == cnnlab.Run(path) and run.path == path and run.id == path.name
    assert run.summary.test_acc == json.loads((path / "summary.json").read_text())["test_acc"]
    assert run.metrics.to_dict("list")["val_acc"] == pd.read_csv(path / "metrics.csv").val_acc.tolist()
    with pytest.raises(AttributeError, match="read-only"):
        run.status = "failed"
    assert repr(run) == f"Run({str(path)!r}, status='completed')"


def test_help_lists_the_api():
    text = python("import cnnlab, pydoc; print(pydoc.render_doc(cnnlab, renderer=pydoc.plaintext))")
    for name in cnnlab.__all__:
        assert f"\n    {name}(" in text or f"class {name}(" in text, name


@pytest.mark.slow
def test_the_example_trains_loads_groups_and_plots(tmp_path):
    out = python(ROOT / "examples" / "sweep_in_pandas.py", tmp_path, cwd=tmp_path)
    header, _, relu, tanh, wrote = out.splitlines()
    assert header.split() == ["mean", "std", "count"] and relu.split()[0] == "relu" and tanh.split()[-1] == "2"
    accs = cnnlab.load_runs(tmp_path / "runs").groupby("model.activation").test_acc.mean()
    assert float(relu.split()[1]) == round(accs["relu"], 3)
    assert wrote == f"wrote {tmp_path / 'val_acc.png'}" and (tmp_path / "val_acc.png").stat().st_size > 5000
