"""One run on several processes: `python -m torch.distributed.run --nproc-per-node 2 -m cnnlab train`
on the CPU (gloo), one thread per process. A sweep's runs are trained one after the other by both
processes, each into one run directory, ending with the weights one process training the same global
batch ends with; a failure on either process fails the run naming it, and torchrun exits non-zero;
Ctrl-C on torchrun leaves the run interrupted, and a resume under torchrun ends exactly as the run
that was never stopped.

Each torchrun start costs seconds (two fresh interpreters import torch), so there are few of them;
the parts that need no second process are tested in-process (sharding below, the rest in
test_precision)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cnnlab.data.pipeline import Batches, Shard, load_data
from cnnlab.run.execute import execute_run
from cnnlab.run.signals import handle_signals
from cnnlab.spec import RunSpec, resolve
from cnnlab.train.progress import LogReporter
from tests.conftest import TINY
from tests.test_resume import assert_same_state

ROOT = Path(__file__).resolve().parent.parent
# 31 images a batch: the two processes take 15 and 16 (and the last batch, of 9, 4 and 5).
SPEC = {**TINY, "data": {**TINY["data"], "augment": ["random_crop", "hflip"]},
        "train": {**TINY["train"], "epochs": 3, "batch_size": 31}}
SWEEP = {**SPEC, "sweep": {"model.norm": ["none", "batch"]}}


def torchrun(tmp_path: Path, *args: str, fault: tuple[str, int, int] | None = None) -> subprocess.CompletedProcess:
    """`cnnlab train ARGS` under torchrun with 2 processes (with a fault planted: tests/torchrun_rank.py)."""
    entry = ["-m", "cnnlab"] if fault is None else [str(ROOT / "tests" / "torchrun_rank.py"), *map(str, fault)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           *entry, "train", *args, "--runs-dir", str(tmp_path / "runs")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)


def write(tmp_path: Path, spec: dict) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def runs(tmp_path: Path) -> list[Path]:
    return sorted(p.parent for p in (tmp_path / "runs").glob("*/*/meta.json"))


def meta(run: Path) -> dict:
    return json.loads((run / "meta.json").read_text())


def state(run: Path, name: str = "last.pt") -> dict:
    return torch.load(run / "checkpoints" / name, weights_only=True)


def rows(run: Path) -> list[float]:
    """metrics.csv's cells, row after row, without the seconds column."""
    lines = (run / "metrics.csv").read_text().splitlines()[1:]
    return [float(cell) for line in lines for cell in line.split(",")[:-1]]


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory) -> Path:
    """The sweep (norm none, then batch: synchronised) trained by torchrun with 2 processes."""
    tmp = tmp_path_factory.mktemp("torchrun")
    done = torchrun(tmp, str(write(tmp, SWEEP)))
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp


def one_process(tmp_path: Path, norm: str) -> Path:
    with handle_signals():
        run = RunSpec(resolve({**SPEC, "model": {**SPEC["model"], "norm": norm}}))
        outcome = execute_run(run, tmp_path, LogReporter, command=["test"])
    assert outcome.status == "completed", outcome.error
    return outcome.path


def test_two_processes_train_each_run_of_a_sweep_into_one_directory_as_one_process_would(two_processes, tmp_path):
    trained = runs(two_processes)
    assert len(trained) == 2  # one directory per run, not one per process
    by_norm = {meta(run)["swept"]["model.norm"]: run for run in trained}
    for norm, run in by_norm.items():
        m = meta(run)
        assert m["status"] == "completed" and m["compute"]["world_size"] == 2 and m["compute"]["backend"] == "gloo"
        assert m["compute"]["sync_bn"] is True
        alone = one_process(tmp_path / norm, norm)
        got, want = state(run)["model"], state(alone)["model"]
        assert got.keys() == want.keys()
        for key in want:  # the same global batches, split in two: equal but for the order of float sums
            torch.testing.assert_close(got[key], want[key], rtol=1e-4, atol=1e-5, msg=f"{norm}: {key}")
        assert rows(run) == pytest.approx(rows(alone), rel=1e-4, abs=1e-5)  # metrics summed over processes
        assert json.loads((run / "summary.json").read_text())["test_acc"] == \
            json.loads((alone / "summary.json").read_text())["test_acc"]
        probed = diagnostics(alone)
        assert len(probed) > 20 and diagnostics(run) == pytest.approx(probed, rel=1e-3, abs=1e-6)  # rank 0 probes


def diagnostics(run: Path) -> dict[tuple[str, ...], float]:
    """diagnostics.csv as (epoch, layer, statistic) → value."""
    lines = (run / "diagnostics.csv").read_text().splitlines()
    header = lines[0].split(",")
    cells = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    return {(c["epoch"], c["layer"], c["statistic"]): float(c["value"]) for c in cells}


def test_a_failure_on_one_process_fails_the_run_naming_it(tmp_path):
    done = torchrun(tmp_path, str(write(tmp_path, SPEC)), fault=("raise", 1, 12))
    assert done.returncode != 0
    [run] = runs(tmp_path)
    m = meta(run)
    assert m["status"] == "failed" and m["failed_rank"] == 1, m
    assert m["error"] == "rank 1: planted failure at step 12"
    log = (run / "log.txt").read_text()
    assert "rank 1 of 2 failed" in log and "RuntimeError: planted failure at step 12" in log  # its traceback
    assert not list(run.rglob("*.tmp"))


def test_a_mistake_under_torchrun_is_one_line_said_once(tmp_path):
    """Rank 0 decides for all and says what is wrong; the others exit with the same status, quietly."""
    done = torchrun(tmp_path, str(write(tmp_path, SPEC)), "--set", "train.device=cuda:1")
    assert done.returncode != 0 and "(exitcode: 2)" in done.stderr  # torchrun exits 1 and reports the status
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: train.device: cuda:1 under torchrun: each process takes the GPU of its local rank "
                      "(device: cuda or auto), or trains on the CPU (device: cpu)"], done.stderr
    assert runs(tmp_path) == []


@pytest.mark.slow
def test_ctrl_c_on_torchrun_interrupts_the_run_and_a_resume_under_torchrun_is_exact(two_processes, tmp_path):
    """SIGINT to torchrun (as a Ctrl-C in its terminal; torchrun passes it on) in the second epoch: both
    processes stop at the same step, rank 0 writes last.pt; resumed, the run ends as the uninterrupted one."""
    spec = write(tmp_path, {**SPEC, "model": {**SPEC["model"], "norm": "batch"}})
    stopped = torchrun(tmp_path, str(spec), fault=("sigint", 0, 12))
    assert stopped.returncode != 0
    [run] = runs(tmp_path)
    m = meta(run)
    assert m["status"] == "interrupted" and "SIGINT" in m["error"], m
    assert f"torchrun --nproc-per-node 2 -m cnnlab train --resume {run}" in m["error"]
    assert state(run)["progress"]["step"] > 0  # mid-epoch

    resumed = torchrun(tmp_path, "--resume", str(run))
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert meta(run)["status"] == "completed" and runs(tmp_path) == [run]
    reference = next(r for r in runs(two_processes) if meta(r)["swept"]["model.norm"] == "batch")
    for name in ("last.pt", "best.pt"):
        assert_same_state(state(reference, name)["model"], state(run, name)["model"])
    assert rows(run) == rows(reference)


@pytest.mark.parametrize("processes", [2, 3])
def test_the_processes_parts_of_an_epoch_are_the_batches_one_process_trains_on(processes):
    """Each process takes a disjoint slice of every batch of the seeded order, augmented as the whole
    batch would be: together, exactly one process's batches."""
    spec = resolve(SPEC)
    data = load_data(spec.data, 0, torch.device("cpu"))

    def epoch(shard: Shard) -> list[tuple[torch.Tensor, torch.Tensor]]:
        data.train.augment.generator.manual_seed(5)
        batches = Batches(data.train, data.normalizer, 31, True, shard)
        return list(batches.shuffled(torch.Generator().manual_seed(3)))

    alone = epoch(Shard())
    parts = [epoch(Shard(rank, processes)) for rank in range(processes)]
    assert all(len(p) == len(alone) for p in parts)
    for step, (x, y) in enumerate(alone):
        assert torch.equal(torch.cat([p[step][0] for p in parts]), x)
        assert torch.equal(torch.cat([p[step][1] for p in parts]), y)
        assert max(len(p[step][1]) for p in parts) - min(len(p[step][1]) for p in parts) <= 1
