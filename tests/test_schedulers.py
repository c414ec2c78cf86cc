"""Every scheduler stops alike, because they share one StopPolicy: in this process, worker processes
(--jobs), Ray tasks and torchrun's processes. The same sweep, whose first run fails at once while the
others would train for ever, ends the same way on each with --fail-fast: one run failed, no run
completed, every other run interrupted where it stood or never started, a non-zero exit. (How each
stops on SIGINT and SIGTERM is tested beside its scheduler: test_signals, test_ray, test_torchrun.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cnnlab.run.ledger import Tally
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import Plan, PlannedRun
from cnnlab.run.policy import StopPolicy
from cnnlab.spec import RunSpec, resolve
from cnnlab.testing import write_synthetic
from tests.conftest import TINY
from tests.ray_cluster import ENV

ROOT = Path(__file__).resolve().parent.parent
SCHEDULERS = {
    "in this process": [],
    "worker processes": ["--jobs", "2"],
    "ray": ["--backend", "ray", "--address", "RAY", "--gpus-per-run", "0"],
    "torchrun": None,  # the same command under torchrun, 2 processes
}


def failing_first(tmp_path: Path) -> Path:
    """Three runs on MNIST-format files: the first reads damaged ones and fails as it loads them, the
    other two train for 1000 epochs."""
    roots = [tmp_path / name for name in ("damaged", "good", "good-too")]
    for root in roots:
        write_synthetic("mnist", root, 600, 100)
    images = roots[0] / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:1000])
    spec = {**TINY, "data": {"dataset": "mnist", "download": False},
            "train": {**TINY["train"], "epochs": 1000}, "sweep": {"data.root": [str(r) for r in roots]}}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_stops_at_the_first_failure_with_fail_fast(scheduler, request, tmp_path):
    spec, runs = failing_first(tmp_path), tmp_path / "runs"
    command = [sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(runs), "--fail-fast"]
    if scheduler == "torchrun":
        command[1:3] = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "cnnlab"]
    else:
        address = request.getfixturevalue("ray_head") if scheduler == "ray" else ""
        command += [address if arg == "RAY" else arg for arg in SCHEDULERS[scheduler]]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, cwd=tmp_path,
                          env={**os.environ, **ENV, "OMP_NUM_THREADS": "1"})
    out = done.stdout + done.stderr
    statuses = sorted(json.loads(m.read_text())["status"] for m in runs.glob("*/*/meta.json"))
    assert done.returncode != 0, out
    assert statuses.count("failed") == 1 and set(statuses) <= {"failed", "interrupted"}, (statuses, out)
    tally = [line for line in done.stdout.splitlines() if line.startswith("3 runs: ")]
    if scheduler != "torchrun":  # torchrun may end rank 0 before it prints, once the other process left
        assert done.returncode == 1 and tally and tally[0].startswith("3 runs: 1 failed"), out
    assert "completed" not in "".join(tally)


def plan_of(n: int) -> Plan:
    run = RunSpec(resolve(TINY))
    return Plan(name="tiny", runs_dir=Path("runs"), runs=tuple(PlannedRun(run) for _ in range(n)), command=())


def test_the_policy_stops_on_a_signal_and_with_fail_fast_on_the_first_failure():
    signum: list[int | None] = [None]
    policy = StopPolicy(fail_fast=True, signal=lambda: signum[0])
    assert not policy.stopping()
    assert not policy.stop_after(Outcome("completed", None)) and not policy.stop_after(Outcome("diverged", None))
    assert policy.stop_after(Outcome("failed", None)) and policy.stopping()
    assert not policy.stop_after(Outcome("failed", None))  # the others are being stopped already
    patient = StopPolicy(signal=lambda: signum[0])
    assert not patient.stop_after(Outcome("failed", None)) and not patient.stopping()
    signum[0] = signal.SIGTERM
    assert patient.stopping()
    agreed = patient.with_signal(lambda: None, fail_fast=True)
    assert not agreed.stopping() and agreed.fail_fast and not patient.fail_fast


def test_the_tally_counts_every_run_and_gives_the_exit_status():
    outcomes = [Outcome("completed", None), Outcome("failed", None), Outcome.not_started()]
    tally = Tally.of(plan_of(4), dict(enumerate(outcomes)))
    assert tally.line() == "1 completed, 1 failed, 2 not started"
    assert tally.exit_code(None) == 1 and tally.exit_code(signal.SIGINT) == 130
    assert Tally.of(plan_of(2), dict.fromkeys(range(2), Outcome("completed", None))).exit_code(None) == 0
    assert Tally.of(plan_of(3), {}).line() == "none ran, 3 not started"
