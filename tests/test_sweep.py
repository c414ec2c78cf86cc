"""Many runs of one experiment: parallel jobs, skipping what completed, failures, interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnlab.run.jobs import plan_jobs, slot_device
from cnnlab.run.plan import PlannedRun, plan
from cnnlab.run.request import TrainRequest
from cnnlab.run.workers.pool import gpu_count
from cnnlab.rundir.records import RunMeta, json_text
from cnnlab.spec import Experiment, expand_runs
from tests.conftest import TINY, WRITTEN


def statuses(runs: Path) -> list[str]:
    return sorted(json.loads(p.read_text())["status"] for p in runs.glob("*/*/meta.json"))


def test_jobs_2_runs_in_parallel_and_reports_a_failure_without_stopping_the_others(cli, tiny_spec, tmp_path):
    runs = tmp_path / "runs"
    spec = tiny_spec(sweep={"model.activation": ["relu", "tanh"], "train.device": ["cpu", "cuda:99"]})
    result = cli("train", spec, "--runs-dir", runs, "--jobs", "2")
    assert result.exit_code == 1, result.output
    assert "4 runs: 2 completed, 2 failed" in result.output
    assert "cuda:99 is not available here" in result.output or "cuda:99 does not exist" in result.output
    assert statuses(runs) == ["completed", "completed", "failed", "failed"]
    failed = [p.parent for p in runs.glob("*/*/meta.json") if json.loads(p.read_text())["status"] == "failed"]
    assert "Traceback" in (failed[0] / "log.txt").read_text()
    record = (runs / "tiny" / "sweep.yaml").read_text()
    assert "model.activation" in record and "spec:" in record


def test_completed_runs_are_skipped_failed_ones_rerun_and_force_reruns_all(cli, tiny_spec, tmp_path):
    runs = tmp_path / "runs"
    spec = tiny_spec(train={**yaml_train(tiny_spec), "epochs": 1}, seeds=[0, 1])
    assert cli("train", spec, "--runs-dir", runs).exit_code == 0
    first = sorted(p.name for p in (runs / "tiny").iterdir() if p.is_dir())
    meta = runs / "tiny" / first[0] / "meta.json"
    meta.write_text(meta.read_text().replace('"completed"', '"interrupted"'))

    again = cli("train", spec, "--runs-dir", runs)
    assert again.exit_code == 0
    assert "2 runs: 1 completed, 1 skipped" in again.output
    assert len([p for p in (runs / "tiny").iterdir() if p.is_dir()]) == 3

    forced = cli("train", spec, "--runs-dir", runs, "--force")
    assert "2 runs: 2 completed" in forced.output
    assert len([p for p in (runs / "tiny").iterdir() if p.is_dir()]) == 5


def yaml_train(tiny_spec) -> dict:
    import yaml

    return yaml.safe_load(tiny_spec("base.yaml").read_text())["train"]


def test_a_changed_spec_is_not_skipped(tmp_path):
    experiment = {"name": "x", "sweep": {"train.epochs": [1, 2]}}
    spec = tmp_path / "x.yaml"
    spec.write_text(json.dumps(experiment))
    run_dir = tmp_path / "runs" / "x" / "done"
    run_dir.mkdir(parents=True)
    from cnnlab.util.yamlio import dump_yaml

    (run_dir / "spec.yaml").write_text(dump_yaml(expand_runs(Experiment.of(experiment))[0].resolved()))
    (run_dir / "meta.json").write_text(json_text(RunMeta(**WRITTEN, status="completed", run_id="done", name="x")))
    planned = plan(TrainRequest(spec, runs_dir=tmp_path / "runs"))
    assert [r.run.spec.train.epochs for r in planned.todo] == [2] and planned.skipped[0].completed == run_dir
    assert len(plan(TrainRequest(spec, runs_dir=tmp_path / "runs", force=True)).todo) == 2
    (run_dir / "meta.json").write_text("{not json")
    assert len(plan(TrainRequest(spec, runs_dir=tmp_path / "runs")).todo) == 2  # a corrupt run is not done


def test_fail_fast_stops_after_the_first_failure(cli, tiny_spec, tmp_path):
    spec = tiny_spec(sweep={"train.device": ["cuda:99", "cpu", "cpu"]}, seeds=[0])
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--fail-fast")
    assert result.exit_code == 1
    assert "3 runs: 1 failed, 2 not started" in result.output


def test_jobs_share_the_cpu_threads_and_each_worker_has_its_own_gpu():
    runs = [PlannedRun(run) for run in expand_runs(Experiment.of({"sweep": {"seed": [0, 1, 2]}}))]
    jobs = plan_jobs(runs, jobs=2, cpu_count=8)
    assert [j.threads for j in jobs] == [4, 4, 4] and all(j.device is None for j in jobs)
    jobs = plan_jobs(runs, jobs=3, cpu_count=2)
    assert [j.threads for j in jobs] == [1, 1, 1]
    assert [slot_device(job, slot, 2).device for job, slot in zip(jobs, (0, 1, 2), strict=True)] == \
        ["cuda:0", "cuda:1", "cuda:0"]
    assert slot_device(jobs[0], 1, 1).device is None  # one GPU: `auto` finds it
    on_cpu = plan_jobs([PlannedRun(run) for run in expand_runs(Experiment.of({"train": {"device": "cpu"}}))], jobs=2,
                       cpu_count=2)
    assert slot_device(on_cpu[0], 1, 2).device is None  # the spec's own device stays


@pytest.mark.skipif(gpu_count() > 0, reason="a machine with GPUs counts them with torch")
def test_the_parent_of_parallel_workers_does_not_import_torch(heavy_imports, tiny_spec, tmp_path):
    """The workers import torch; the parent, which only hands out runs and shows the board, does not
    (it would cost seconds before the first run starts)."""
    spec = tiny_spec(seeds=[0, 1], train={**TINY["train"], "epochs": 1})
    assert heavy_imports(["train", spec, "--jobs", "2", "--runs-dir", tmp_path / "runs"]) == []
    assert len(list((tmp_path / "runs").glob("tiny/*/summary.json"))) == 2


def test_two_workers_train_four_runs_one_after_another_as_one_process_would(cli, tiny_spec, tmp_path):
    spec = tiny_spec(seeds=[0, 1, 2, 3])
    assert cli("train", spec, "--runs-dir", tmp_path / "parallel", "--jobs", "2").exit_code == 0
    assert cli("train", spec, "--runs-dir", tmp_path / "sequential").exit_code == 0

    def by_seed(runs: Path) -> dict[int, tuple[int, list[list[str]]]]:
        found = {}
        for meta_path in runs.glob("tiny/*/meta.json"):
            meta = json.loads(meta_path.read_text())
            rows = [line.split(",")[:-1] for line in (meta_path.parent / "metrics.csv").read_text().splitlines()]
            found[meta["seed"]] = (meta["pid"], rows)  # metrics without the seconds column
        return found

    parallel, sequential = by_seed(tmp_path / "parallel"), by_seed(tmp_path / "sequential")
    assert len({pid for pid, _ in parallel.values()}) <= 2  # each worker process trained several runs
    assert sorted(parallel) == [0, 1, 2, 3]
    assert {seed: rows for seed, (_, rows) in parallel.items()} == \
        {seed: rows for seed, (_, rows) in sequential.items()}


def test_a_sweep_rerun_with_resume_continues_its_unfinished_runs_in_parallel(cli, tiny_spec, tmp_path):
    runs = tmp_path / "runs"
    spec = tiny_spec(seeds=[0, 1, 2])
    assert cli("train", spec, "--runs-dir", runs).exit_code == 0
    by_seed = {json.loads(p.read_text())["seed"]: p for p in runs.glob("tiny/*/meta.json")}
    for seed, status in ((0, "interrupted"), (1, "failed")):  # as a signal or a full disk would leave them
        by_seed[seed].write_text(by_seed[seed].read_text().replace('"completed"', f'"{status}"'))
    result = cli("train", spec, "--runs-dir", runs, "--resume", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "3 runs: 2 completed, 1 skipped" in result.output
    assert f"resuming seed=0: {by_seed[0].parent}" in result.output
    assert len(list(runs.glob("tiny/*/meta.json"))) == 3  # continued in place, no new directory
    for seed in (0, 1):
        meta = json.loads(by_seed[seed].read_text())
        assert meta["status"] == "completed" and [r["status"] for r in meta["resumptions"]] == \
            ["interrupted" if seed == 0 else "failed"]
        assert "--resume" in meta["resumptions"][0]["command"]


def test_a_run_written_by_a_newer_cnnlab_stops_the_plan_in_one_line(cli, tiny_spec, tmp_path):
    """Whether it is done cannot be told: training it again would make a second directory of the run."""
    spec, runs = tiny_spec(), tmp_path / "runs"
    assert cli("train", spec, "--runs-dir", runs).exit_code == 0
    [meta] = runs.glob("tiny/*/meta.json")
    meta.write_text(meta.read_text().replace('"schema_version": 1', '"schema_version": 2'))
    for args in ([], ["--dry-run"]):
        result = cli("train", spec, "--runs-dir", runs, *args)
        assert result.exit_code == 2 and result.stderr == (
            f"error: {meta}: written by a newer cnnlab (schema 2; this one reads 1): upgrade cnnlab\n")
    assert len(list(runs.glob("tiny/*/meta.json"))) == 1
