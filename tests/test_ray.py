"""`cnnlab train --backend ray`: a real Ray head started as its own process (the session's `ray_head`,
tests/ray_cluster.py), sweeps through --address in both places a run directory can be written (by the
workers, or shipped back and placed here), compared with the same sweep run with --jobs 1; a failing
run, fail-fast, a re-run that skips, Ctrl-C, and a local instance started and stopped by cnnlab."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cnnlab.run.ray_backend.ship import ShippedRun, pack, place
from cnnlab.rundir.folders import RunDirError
from cnnlab.rundir.records import RunMeta, json_text
from tests.conftest import TINY, WRITTEN
from tests.ray_cluster import ENV
from tests.test_signals import LONG, assert_clean, metas, trained_rows, wait_for

SWEEP = {**TINY, "sweep": {"model.activation": ["relu", "tanh"]}, "seeds": [0, 1]}  # 4 runs


def write_spec(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def train(spec: Path, runs: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(runs), *args],
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=timeout)


def contents(runs: Path) -> dict[str, dict]:
    """Per run (by its spec.yaml): its files, spec, metrics rows and summary figures, without the
    wall-clock ones."""
    found = {}
    for run in (runs / "tiny").glob("*/spec.yaml"):
        folder = run.parent
        metrics = [line.rsplit(",", 1)[0] for line in (folder / "metrics.csv").read_text().splitlines()]
        summary = json.loads((folder / "summary.json").read_text())
        for clock in ("train_seconds", "images_per_second"):
            summary.pop(clock)
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
        found[run.read_text()] = {"files": files, "metrics": metrics, "summary": summary}
    return found


@pytest.mark.slow
def test_a_sweep_on_ray_writes_what_jobs_1_writes_shared_and_shipped_and_a_rerun_skips(ray_head, cli, tmp_path):
    spec = write_spec(tmp_path, SWEEP)
    assert cli("train", spec, "--runs-dir", tmp_path / "jobs", "--jobs", "1").exit_code == 0
    expected = contents(tmp_path / "jobs")
    assert len(expected) == 4
    for mode, args in [("written by the workers", []), ("shipped back here", ["--ship"])]:
        runs = tmp_path / mode.replace(" ", "-")
        done = train(spec, runs, "--backend", "ray", "--address", ray_head, *args)
        assert done.returncode == 0, done.stdout + done.stderr
        assert mode in done.stdout and "4 runs: 4 completed" in done.stdout, done.stdout
        assert len([line for line in done.stdout.splitlines() if "] completed  activation=" in line]) == 4
        assert contents(runs) == expected
        assert not (runs / ".incoming").exists()
        command = json.loads(next(runs.glob("tiny/*/meta.json")).read_text())["command"]
        assert f"--backend ray --address {ray_head}" in command
    again = train(spec, tmp_path / "written-by-the-workers", "--backend", "ray", "--address", ray_head)
    assert again.returncode == 0 and "4 runs: 4 skipped" in again.stdout, again.stdout
    assert len(list((tmp_path / "written-by-the-workers" / "tiny").glob("*/meta.json"))) == 4


@pytest.mark.slow
def test_failures_are_reported_while_the_rest_go_on_and_fail_fast_stops_them(ray_head, tmp_path):
    spec = write_spec(tmp_path, {**TINY, "sweep": {"train.device": ["cpu", "cuda:99"]}, "seeds": [0, 1]})
    runs = tmp_path / "runs"
    done = train(spec, runs, "--backend", "ray", "--address", ray_head, "--ship", "--gpus-per-run", "0")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "4 runs: 2 completed, 2 failed" in done.stdout
    failed = [m for m in runs.glob("tiny/*/meta.json") if json.loads(m.read_text())["status"] == "failed"]
    assert len(failed) == 2 and "Traceback" in (failed[0].parent / "log.txt").read_text()
    lines = [line for line in done.stdout.splitlines() if "] failed" in line]
    assert len(lines) == 2 and all(f"traceback in {runs}/tiny/" in line for line in lines), done.stdout

    slow = write_spec(tmp_path, {**LONG, "sweep": {"model.activation": ["relu", "tanh"],
                                                   "train.device": ["cuda:99", "cpu"]}})  # 2 at a time: 1 fails
    stopped = train(slow, tmp_path / "fast" / "runs", "--backend", "ray", "--address", ray_head, "--gpus-per-run", "0",
                    "--fail-fast")
    assert stopped.returncode == 1, stopped.stdout + stopped.stderr
    tally = stopped.stdout.splitlines()[-1]
    assert tally.startswith("4 runs: ") and "failed" in tally and "completed" not in stopped.stdout, stopped.stdout
    assert "interrupted" in {m["status"] for m in metas(tmp_path / "fast")} <= {"failed", "interrupted"}


@pytest.mark.slow
def test_ctrl_c_cancels_the_tasks_and_marks_the_running_runs_interrupted(ray_head, tmp_path):
    spec = write_spec(tmp_path, {**LONG, "seeds": [0, 1, 2]})
    proc = subprocess.Popen([sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(tmp_path / "runs"),
                             "--backend", "ray", "--address", ray_head], env={**os.environ, **ENV},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_for(lambda: len([m for m in metas(tmp_path) if m["status"] == "running"]) == 2 and
             trained_rows(tmp_path) >= 2, "two runs training")
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the Ray workers are not in its process group
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "Traceback" not in out, out
    assert [m["status"] for m in metas(tmp_path)] == ["interrupted", "interrupted"]
    assert "3 runs: 2 interrupted, 1 not started" in out, out
    assert all("cnnlab train --resume" in m["error"] for m in metas(tmp_path))
    assert_clean(tmp_path)


@pytest.mark.slow
def test_without_address_a_local_instance_is_started_and_stopped(tmp_path):
    spec = write_spec(tmp_path, {**TINY, "seeds": [0, 1]})
    started = time.monotonic()
    done = train(spec, tmp_path / "runs", "--backend", "ray")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "on Ray (a local instance" in done.stdout and "2 runs: 2 completed" in done.stdout
    assert done.stderr == "", done.stderr  # Ray's own log lines stay out of it
    assert time.monotonic() - started < 120


def test_ray_usage_mistakes_are_one_line(cli, tiny_spec, monkeypatch):
    spec = tiny_spec()
    for args, message in [(["--address", "auto"], "--address applies only with --backend ray"),
                          (["--ship"], "--ship applies only with --backend ray"),
                          (["--backend", "ray", "--jobs", "2"], "--jobs does not apply with --backend ray")]:
        result = cli("train", spec, *args)
        assert result.exit_code == 2 and message in result.output and result.output.count("\n") == 1, result.output
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    result = cli("train", spec, "--backend", "ray")
    assert result.exit_code == 2
    assert result.output == "error: --backend ray needs Ray, which is not installed here: pip install 'cnnlab[ray]'\n"


def test_a_shipped_run_is_placed_whole_with_its_paths_moved_and_never_over_another(tmp_path):
    origin = tmp_path / "worker" / "tiny" / "r1"
    (origin / "checkpoints").mkdir(parents=True)
    (origin / "checkpoints" / "last.pt").write_bytes(b"\x00weights")
    (origin / "meta.json").write_text(json_text(RunMeta(**WRITTEN, status="interrupted", run_id="r1", name="tiny",
                                                        error=f"continue it with: cnnlab train --resume {origin}")))
    (origin / "log.txt").write_text(f"interrupted; continue it with: cnnlab train --resume {origin}\n")
    runs = tmp_path / "runs"
    placed = place(pack(origin), runs, runs / "tiny")
    assert placed == runs / "tiny" / "r1"
    assert (placed / "checkpoints" / "last.pt").read_bytes() == b"\x00weights"
    assert str(origin) not in (placed / "meta.json").read_text() + (placed / "log.txt").read_text()
    assert f"--resume {placed}" in RunMeta.model_validate_json((placed / "meta.json").read_text()).error
    assert sorted(p.name for p in runs.iterdir()) == ["tiny"]  # nothing left beside it
    with pytest.raises(RunDirError, match="exists already"):
        place(pack(origin), runs, runs / "tiny")
    for name in ("../escape", "/etc/passwd", "a/../../b"):
        with pytest.raises(RunDirError, match="lead out"):
            place(ShippedRun("r2", str(origin), (), {name: b"x"}), runs, runs / "tiny")
    with pytest.raises(RunDirError, match="not a directory name"):
        place(ShippedRun("..", str(origin), (), {}), runs, runs / "tiny")
    assert not (runs / "tiny" / "r2").exists() and not (tmp_path / "escape").exists()
