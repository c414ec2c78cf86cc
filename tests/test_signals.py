"""Real signals to a real `cnnlab train`: SIGINT and SIGTERM, sequential and --jobs 2, early (while torch
imports) and mid-training. Every run ends with a true status, the exit status says which signal, no
worker outlives its parent, no temporary file is left and nothing prints a traceback."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from cnnlab.rundir.liveness import pid_alive
from tests.conftest import TINY

pytestmark = pytest.mark.slow

LONG = {**TINY, "train": {**TINY["train"], "epochs": 1000},
        "data": {"dataset": {**TINY["data"]["dataset"], "train_size": 1200}}}  # ~40 steps an epoch


def start(tmp_path: Path, spec: dict, *args: str) -> subprocess.Popen:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return subprocess.Popen([sys.executable, "-m", "cnnlab", "train", str(path), "--runs-dir", str(tmp_path / "runs"),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # its own process group, as a terminal gives it


def wait_for(condition, what: str, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def metas(tmp_path: Path) -> list[dict]:
    found = []
    for path in (tmp_path / "runs").glob("*/*/meta.json"):
        with contextlib.suppress(OSError, ValueError):  # being replaced this instant
            found.append(json.loads(path.read_text()))
    return found


def trained_rows(tmp_path: Path) -> int:
    return sum(max(0, len(p.read_text().splitlines()) - 1) for p in (tmp_path / "runs").glob("*/*/metrics.csv"))


def workers_of(pid: int) -> list[int]:
    """The worker processes of `pid` (its spawned children; not multiprocessing's resource tracker)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if ppid == pid and b"spawn_main" in cmdline:
            found.append(int(stat.parent.name))
    return found


def finish(proc: subprocess.Popen) -> str:
    out, _ = proc.communicate(timeout=180)
    assert "Traceback" not in out, out
    return out


def assert_clean(tmp_path: Path) -> None:
    assert not list((tmp_path / "runs").rglob("*.tmp")), "a temporary file was left behind"


@pytest.mark.parametrize(("signum", "moment"), [(signal.SIGINT, "early"), (signal.SIGTERM, "mid-epoch")])
def test_one_run_stopped_by_a_signal_is_interrupted(tmp_path, signum, moment):
    proc = start(tmp_path, LONG)
    if moment == "early":  # meta.json exists before torch is imported: the signal lands in the import
        wait_for(lambda: metas(tmp_path), "the run directory")
    else:
        wait_for(lambda: trained_rows(tmp_path) >= 2, "two epochs")
    os.kill(proc.pid, signum)
    out = finish(proc)
    assert proc.returncode == 128 + signum, out
    [meta] = metas(tmp_path)
    assert meta["status"] == "interrupted" and signal.Signals(signum).name in meta["error"], meta
    assert "cnnlab train --resume" in meta["error"]
    run = next((tmp_path / "runs").glob("*/*/"))
    if moment == "early":
        assert "before the first epoch ended" in meta["error"] and not (run / "checkpoints" / "last.pt").exists()
    else:
        assert (run / "checkpoints" / "last.pt").exists()
    assert_clean(tmp_path)


def test_a_second_signal_stops_at_once_and_still_leaves_a_true_status(tmp_path):
    proc = start(tmp_path, LONG)
    wait_for(lambda: trained_rows(tmp_path) >= 1, "an epoch")
    os.kill(proc.pid, signal.SIGINT)
    os.kill(proc.pid, signal.SIGINT)
    out = finish(proc)
    assert proc.returncode == 130, out
    assert [m["status"] for m in metas(tmp_path)] == ["interrupted"]
    assert_clean(tmp_path)


SECOND_SIGNAL_WHILE_RECORDING = """
import os, signal, sys
from cnnlab.cli import main
from cnnlab.rundir.store import RunStore

real = RunStore.update_meta

def update_meta(self, **changes):
    if changes.get("status") == "interrupted" and not getattr(update_meta, "sent", False):
        update_meta.sent = True
        os.kill(os.getpid(), signal.SIGTERM)  # the second signal, while the first one's status is recorded
    return real(self, **changes)

RunStore.update_meta = update_meta
sys.argv = ["cnnlab", *sys.argv[1:]]
main()
"""


def test_a_second_signal_while_the_first_ones_status_is_recorded_still_exits_at_once(tmp_path):
    """Its emergency action records the status from inside the first one's recording, in the same
    thread (as a doubled parent-death signal did to a worker): it must not wait for itself."""
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(LONG))
    proc = subprocess.Popen([sys.executable, "-c", SECOND_SIGNAL_WHILE_RECORDING, "train", str(path),
                             "--runs-dir", str(tmp_path / "runs")], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    wait_for(lambda: trained_rows(tmp_path) >= 1, "an epoch")
    os.kill(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=60)  # a process waiting for itself never ends
    finally:
        proc.kill()
    assert proc.returncode == 143 and "Traceback" not in out, out
    [meta] = metas(tmp_path)
    assert meta["status"] == "interrupted" and "stopped at once by a second SIGTERM" in meta["error"]
    assert_clean(tmp_path)


SWEEP = {**LONG, "seeds": [0, 1, 2]}


@pytest.mark.parametrize(("signum", "moment", "to_group"),
                         [(signal.SIGTERM, "early", False), (signal.SIGINT, "mid-epoch", True)],
                         ids=["sigterm-to-parent-early", "sigint-to-group-mid-epoch"])
def test_a_parallel_sweep_stopped_by_a_signal(tmp_path, signum, moment, to_group):
    proc = start(tmp_path, SWEEP, "--jobs", "2")
    if moment == "early":
        wait_for(lambda: metas(tmp_path), "a run directory")
    else:
        wait_for(lambda: len([m for m in metas(tmp_path) if m["status"] == "running"]) == 2 and
                 trained_rows(tmp_path) >= 2, "two runs training")
    workers = workers_of(proc.pid)
    assert workers, "no worker processes"
    (os.killpg if to_group else os.kill)(proc.pid, signum)  # a terminal's Ctrl-C reaches the whole group
    out = finish(proc)
    assert proc.returncode == 128 + signum, out
    statuses = [m["status"] for m in metas(tmp_path)]
    assert statuses and set(statuses) == {"interrupted"}, out
    not_started = 3 - len(statuses)
    assert f"3 runs: {len(statuses)} interrupted" + (f", {not_started} not started" if not_started else "") in out
    assert not [pid for pid in workers if pid_alive(pid)], "a worker outlived its parent"
    assert_clean(tmp_path)


FIRST_WORKER_MASK = """
import multiprocessing as mp, signal
from cnnlab.run.signals import start_with_signals_blocked

def report(channel):
    channel.send(sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))

if __name__ == "__main__":
    mine, theirs = mp.get_context("spawn").Pipe()
    start_with_signals_blocked(mp.get_context("spawn").Process(target=report, args=(theirs,)))
    print(mine.recv(), sorted(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
"""


def test_the_first_worker_starts_with_the_stop_signals_blocked(tmp_path):
    """The first process a fresh interpreter spawns starts multiprocessing's resource tracker, which
    unblocks SIGINT and SIGTERM: a stop then killed that worker outright ('killed by SIGTERM', a failed
    run) instead of letting its handlers turn it into a run not started."""
    script = tmp_path / "first_worker.py"
    script.write_text(FIRST_WORKER_MASK)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).parent.parent)
    assert out.stdout.split() == ["[<Signals.SIGINT:", "2>,", "<Signals.SIGTERM:", "15>]", "[]"], out.stderr


def test_workers_die_with_their_parent(tmp_path):
    proc = start(tmp_path, SWEEP, "--jobs", "2")
    wait_for(lambda: len([m for m in metas(tmp_path) if m["status"] == "running"]) == 2 and
             trained_rows(tmp_path) >= 2, "two runs training")
    workers = workers_of(proc.pid)
    proc.kill()  # SIGKILL: the parent has no say
    proc.communicate(timeout=60)
    wait_for(lambda: not [pid for pid in workers if pid_alive(pid)], "the workers to exit", timeout=60)
    assert sorted(m["status"] for m in metas(tmp_path)) == ["interrupted", "interrupted"]
    assert_clean(tmp_path)


def test_a_worker_killed_mid_run_fails_that_run_and_a_new_worker_trains_the_rest(tmp_path):
    short = {**TINY, "data": {"dataset": {**TINY["data"]["dataset"], "train_size": 1200}}, "seeds": [0, 1, 2, 3],
             "train": {**TINY["train"], "epochs": 4}}
    proc = start(tmp_path, short, "--jobs", "2")
    wait_for(lambda: any(m["status"] == "running" and m["seed"] == 0 for m in metas(tmp_path)) and
             trained_rows(tmp_path) >= 1, "the first run training")
    victim = next(m for m in metas(tmp_path) if m["seed"] == 0)
    os.kill(victim["pid"], signal.SIGKILL)  # as the kernel's OOM killer would
    out = finish(proc)
    assert proc.returncode == 1, out
    by_seed = {m["seed"]: m for m in metas(tmp_path)}
    assert by_seed[0]["status"] == "failed" and "killed by SIGKILL" in by_seed[0]["error"]
    assert [by_seed[seed]["status"] for seed in (1, 2, 3)] == ["completed"] * 3, out
    assert "4 runs: 3 completed, 1 failed" in out
    assert_clean(tmp_path)
