"""`--shard I/N` (a Slurm array's task trains one slice of a sweep) and several processes starting the
same sweep into one runs directory at once: every run is trained once, in one directory."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from cnnlab.errors import UsageError
from cnnlab.spec import Experiment, expand_runs
from cnnlab.spec.identity import canonical
from cnnlab.spec.shard import Shard, parse_shard, select_shard
from tests.conftest import TINY

SWEEP = {"name": "s", "sweep": {"model.activation": ["relu", "tanh", "sigmoid"], "model.init": ["xavier_normal",
                                                                                            "kaiming_normal"]},
         "seeds": [0, 1, 2]}


def ids(runs) -> set[str]:
    return {canonical(run.resolved()) for run in runs}


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7, 18, 25])
def test_the_shards_are_disjoint_cover_the_sweep_and_differ_in_size_by_at_most_one(n):
    runs = expand_runs(Experiment.of(SWEEP))
    shards = [select_shard(runs, Shard(i, n)) for i in range(1, n + 1)]
    assert sum(len(s) for s in shards) == len(runs) == 18
    assert set().union(*(ids(s) for s in shards)) == ids(runs)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    for shard in shards:  # in the sweep's order
        assert [runs.index(run) for run in shard] == sorted(runs.index(run) for run in shard)


def test_a_run_lands_in_the_same_shard_whatever_order_the_yaml_lists_it_in():
    reordered = {"name": "s", "seeds": [2, 0, 1],
                 "sweep": {"model.init": ["kaiming_normal", "xavier_normal"],
                           "model.activation": ["sigmoid", "relu", "tanh"]}}
    first, second = expand_runs(Experiment.of(SWEEP)), expand_runs(Experiment.of(reordered))
    assert [r.swept for r in first] != [r.swept for r in second]
    for i in range(1, 5):
        assert ids(select_shard(first, Shard(i, 4))) == ids(select_shard(second, Shard(i, 4)))


@pytest.mark.parametrize(("text", "message"), [
    ("0/4", "numbered from 1 to 4 (a 0-based array index i: --shard $((i + 1))/4)"),
    ("5/4", "numbered from 1 to 4"),
    ("2/0", "at least 1"),
    ("two", "expected I/N"),
    ("1/4/2", "expected I/N"),
])
def test_a_wrong_shard_is_one_line_naming_the_option(text, message):
    with pytest.raises(UsageError, match="--shard") as err:
        parse_shard(text)
    assert message in str(err.value)
    assert parse_shard(" 3 / 4 ") == Shard(3, 4)


def test_shard_on_the_command_line(cli, tiny_spec, tmp_path):
    spec = tiny_spec(seeds=[0, 1, 2, 3, 4])
    result = cli("train", spec, "--shard", "2/2", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "shard 2/2: 2 of the sweep's 5 runs" in result.output and "2 runs" in result.output
    empty = cli("train", tiny_spec(), "--shard", "2/3", "--runs-dir", tmp_path / "runs")
    assert empty.exit_code == 0 and "shard 2/3: 0 of the sweep's 1 run" in empty.output
    assert not (tmp_path / "runs" / "tiny").exists()
    bad = cli("train", spec, "--shard", "0/2")
    assert bad.exit_code == 2 and bad.output.count("\n") == 1


@pytest.mark.slow
def test_processes_starting_one_sweep_at_once_train_each_run_once(tmp_path):
    """A Slurm array of two shards and two unsharded copies of the same command, all started together
    into one runs directory: four runs, four directories, none twice."""
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "sweep": {"model.activation": ["relu", "tanh"]}, "seeds": [0, 1]}))
    base = [sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(tmp_path / "runs")]
    procs = [subprocess.Popen(base + extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for extra in ([], ["--shard", "1/2"], ["--shard", "2/2"], [])]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], outputs
    metas = [json.loads(p.read_text()) for p in (tmp_path / "runs" / "tiny").glob("*/meta.json")]
    assert sorted(m["status"] for m in metas) == ["completed"] * 4
    trained = sorted((m["swept"]["model.activation"], m["seed"]) for m in metas)
    assert trained == [("relu", 0), ("relu", 1), ("tanh", 0), ("tanh", 1)]
    assert not list((tmp_path / "runs").rglob("*.tmp"))
    assert not list((tmp_path / "runs" / ".claims").iterdir())


def test_shard_does_not_apply_to_one_run_directory(cli, tmp_path):
    run = tmp_path / "runs" / "tiny" / "r1"
    run.mkdir(parents=True)
    (run / "spec.yaml").write_text(yaml.safe_dump(TINY))
    result = cli("train", "--resume", run, "--shard", "1/2")
    assert result.exit_code == 2 and "--shard does not apply" in result.output


def test_sweep_record_is_the_same_for_every_shard(cli, tiny_spec, tmp_path):
    spec = tiny_spec(seeds=[0, 1], train={**TINY["train"], "epochs": 1})
    for i in (1, 2):
        assert cli("train", spec, "--shard", f"{i}/2", "--runs-dir", tmp_path / "runs").exit_code == 0
    record = yaml.safe_load((tmp_path / "runs" / "tiny" / "sweep.yaml").read_text())
    assert "--shard" not in record["command"]
    commands = {json.loads(p.read_text())["command"] for p in (tmp_path / "runs" / "tiny").glob("*/meta.json")}
    assert commands == {f"cnnlab train {spec} --runs-dir {tmp_path / 'runs'} --shard {i}/2" for i in (1, 2)}
