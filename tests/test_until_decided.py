"""`cnnlab train EXP.yaml --until-decided`: seeds added in rounds, only to the configurations an
undecided claim names, until it is decided or --max-seeds; the looks recorded for the report, which
decides look by look as the loop did; a re-run that trains nothing more; the refusals."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import yaml
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.compare.claims_report import read_claims_json
from cnnlab.run.board import SweepBoard
from tests.conftest import TINY

CLAIMS = ["model.fc#2 > model.fc#1 on params",  # the same in every seed: decided at once
          "relu & model.fc#1 ~= leaky_relu & model.fc#1 on test_acc"]  # 2-point equivalence: open at 4 seeds


def write(tmp_path: Path, **changes) -> Path:
    spec = {**TINY, "name": "ud", "sweep": {"model.activation": ["relu", "leaky_relu"], "model.fc": [[16], [32]]},
            "seeds": [0, 1], "claims": CLAIMS, **changes}
    path = tmp_path / "ud.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def train(*args):
    return CliRunner().invoke(app, ["train", *map(str, args)], env={"COLUMNS": None, "TTY_COMPATIBLE": "0"})


def seeds_by_configuration(runs: Path) -> dict[tuple, list[int]]:
    found = defaultdict(list)
    for meta_path in runs.glob("ud/*/meta.json"):
        meta = json.loads(meta_path.read_text())
        found[(meta["swept"]["model.activation"], tuple(meta["swept"]["model.fc"]))].append(meta["seed"])
    return {key: sorted(seeds) for key, seeds in found.items()}


def test_seeds_go_only_where_a_claim_is_open_and_stop_at_max_seeds(tmp_path):
    spec, runs = write(tmp_path), tmp_path / "runs"
    result = train(spec, "--runs-dir", runs, "--until-decided", "--max-seeds", "4")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "round 2: 2 more runs (seed 2) for 1 undecided claim: " + CLAIMS[1] in lines
    assert "round 3: 2 more runs (seed 3) for 1 undecided claim: " + CLAIMS[1] in lines
    assert lines[-1].startswith("3 rounds, 12 runs: 12 completed · claims: 1 decided, 1 undecided at 4 seeds per "
                                "group (--max-seeds) · in ")
    assert seeds_by_configuration(runs) == {("relu", (16,)): [0, 1, 2, 3], ("leaky_relu", (16,)): [0, 1, 2, 3],
                                            ("relu", (32,)): [0, 1], ("leaky_relu", (32,)): [0, 1]}
    looks = yaml.safe_load((runs / "ud" / "sweep.yaml").read_text())["looks"]
    assert looks["planned"] == [2, 3, 4] and looks["seeds"] == [[0, 1], [2], [3]]
    assert abs(sum(looks["levels"]) - 0.05) < 1e-12

    again = train(spec, "--runs-dir", runs, "--until-decided", "--max-seeds", "4")
    assert again.exit_code == 0 and "12 runs: 12 skipped" in again.stdout.splitlines()[-1], again.output
    assert len(list(runs.glob("ud/*/meta.json"))) == 12

    out = tmp_path / "report"
    assert CliRunner().invoke(app, ["report", str(runs), "--out", str(out), "--no-plots"]).exit_code == 0
    decided, open_claim = read_claims_json(out / "claims.json")
    assert (decided.verdict, decided.test, decided.seeds) == ("holds", "fixed", {"model.fc#2": 2, "model.fc#1": 2})
    assert (open_claim.verdict, open_claim.test) == ("inconclusive", "tost")
    assert open_claim.seeds == {"relu & model.fc#1": 4, "leaky_relu & model.fc#1": 4}
    assert decided.procedure == open_claim.procedure == "pocock-spending-bonferroni"
    page = (out / "README.md").read_text()
    assert "Claims decided look by look (`cnnlab train --until-decided`" in page
    assert re.search(r"look 3 \(4 seeds\): p = [\d.]+, Holm [\d.]+ ≥ 0\.0086", page)


def test_a_claim_decided_on_the_spec_seeds_adds_no_round(tmp_path):
    result = train(write(tmp_path, claims=CLAIMS[:1]), "--runs-dir", tmp_path / "runs", "--until-decided")
    assert result.exit_code == 0, result.output
    assert "round 2" not in result.stdout
    assert result.stdout.splitlines()[-1].startswith("1 round, 8 runs: 8 completed · claims: 1 decided, 0 undecided")


def test_refusals_are_one_line(tmp_path):
    spec = write(tmp_path)
    for args, message in [
        (["--shard", "1/2"], "--until-decided with --shard: one shard cannot decide the claims alone"),
        (["--max-seeds", "1"], "Invalid value for '--max-seeds'"),
    ]:
        result = train(spec, "--until-decided", *args)
        assert result.exit_code == 2 and message in result.stderr and result.stderr.count("\n") == 1, result.output
    result = train(write(tmp_path, claims=[]), "--until-decided", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "states no claims to decide" in result.stderr
    assert not (tmp_path / "runs" / "ud").exists() or not list((tmp_path / "runs" / "ud").glob("*/meta.json"))


def test_the_board_names_the_round():
    import io

    from rich.console import Console

    board = SweepBoard(Console(file=io.StringIO()), ["a", "b"], round_label="round 2")
    assert board.overall_line().startswith("round 2 · 0/2 done, 0 running, 2 left · ")
