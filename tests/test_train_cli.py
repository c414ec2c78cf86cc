"""`cnnlab train` end to end on tiny shapes runs: the run directory, determinism, user errors."""

from __future__ import annotations

import csv
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cnnlab.rundir.csv_files import METRIC_COLUMNS
from tests.conftest import TINY

TINY_TRAIN = TINY["train"]


def only_run(runs: Path) -> Path:
    found = [p for p in runs.glob("*/*") if p.is_dir()]
    assert len(found) == 1, found
    return found[0]


def test_quickstart_spec_trains_and_leaves_a_complete_run_directory(cli, tmp_path):
    runs = tmp_path / "runs"
    quickstart = Path(__file__).parent.parent / "experiments" / "quickstart.yaml"
    result = cli("train", quickstart, "--runs-dir", runs, "--set", "data.dataset.train_size=400",
                 "--set", "data.dataset.test_size=100", "--set", "train.epochs=2")
    assert result.exit_code == 0, result.output
    assert "run completed" in result.output and "test acc" in result.output
    run = only_run(runs)
    assert run.parent.name == "quickstart"

    spec = yaml.safe_load((run / "spec.yaml").read_text())
    meta = json.loads((run / "meta.json").read_text())
    summary = json.loads((run / "summary.json").read_text())
    rows = list(csv.DictReader((run / "metrics.csv").open()))

    assert spec["train"]["epochs"] == 2 and spec["data"]["dataset"]["train_size"] == 400
    assert meta["status"] == "completed" and meta["run_id"] == run.name and meta["ended"]
    assert {"cnnlab", "torch", "torchvision", "python"} <= set(meta["versions"])
    assert meta["device"] == "cpu" and meta["command"].startswith(f"cnnlab train {quickstart} --set data.dataset")
    assert meta["machine"].endswith(f"CPUs, {torch.backends.cpu.get_cpu_capability()} kernels")
    assert list(rows[0]) == list(METRIC_COLUMNS) and [int(r["epoch"]) for r in rows] == [1, 2]
    assert summary["epochs_run"] == 2
    assert summary["best_val_acc"] == pytest.approx(max(float(r["val_acc"]) for r in rows), abs=1e-6)
    assert summary["final_train_loss"] == pytest.approx(float(rows[-1]["train_loss"]), rel=1e-5)
    assert summary["split_sizes"] == {"train": 360, "val": 40, "test": 100}
    assert 0 <= summary["test_acc"] <= 1 and summary["params"] > 0 and summary["macs"] > 0
    for name in ("last.pt", "best.pt"):
        state = torch.load(run / "checkpoints" / name, weights_only=True)
        assert set(state) >= {"model", "optimizer", "epoch", "metrics"}
    assert "epoch   2/2" in (run / "log.txt").read_text()
    assert not list(run.rglob("*.tmp")), "a temporary file was left behind"
    umask = os.umask(0)
    os.umask(umask)
    for path in (run / "spec.yaml", run / "meta.json", run / "metrics.csv", run / "checkpoints" / "best.pt"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, f"{path.name} is not readable as plain files are"


def test_the_machine_names_the_kernels_that_ran_and_the_caps_set_on_them():
    """The same code and seed round differently with AVX2 and AVX512 kernels: meta.json says which ran."""
    code = "import torch; from cnnlab.run.provenance import machine; print(machine(torch.device('cpu')))"
    env = {**os.environ, "ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    env.pop("MKL_ENABLE_INSTRUCTIONS", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("CPUs, DEFAULT kernels (ONEDNN_MAX_CPU_ISA=AVX2)"), out


def test_same_spec_and_seed_give_identical_metrics(cli, tiny_spec, tmp_path):
    spec = tiny_spec()
    tables = []
    for runs in (tmp_path / "a", tmp_path / "b"):
        assert cli("train", spec, "--runs-dir", runs).exit_code == 0
        rows = list(csv.DictReader((only_run(runs) / "metrics.csv").open()))
        tables.append([{k: v for k, v in r.items() if k != "seconds"} for r in rows])
    assert tables[0] == tables[1]


def test_different_seed_gives_different_metrics(cli, tiny_spec, tmp_path):
    metrics = []
    for seed in (0, 1):
        runs = tmp_path / f"s{seed}"
        assert cli("train", tiny_spec(seed=seed), "--runs-dir", runs).exit_code == 0
        metrics.append((only_run(runs) / "metrics.csv").read_text().split("\n")[1])
    assert metrics[0] != metrics[1]


def test_divergence_stops_the_run_and_keeps_the_last_good_checkpoint(cli, tiny_spec, tmp_path):
    spec = tiny_spec(train={"epochs": 3, "batch_size": 32, "device": "cpu", "scheduler": "none",
                            "optimizer": {"name": "sgd", "lr": 1e12, "momentum": 0.0, "weight_decay": 0.0}},
                     model={**yaml.safe_load(tiny_spec().read_text())["model"], "norm": "none"})
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1
    assert "NaN or infinite" in result.output
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "meta.json").read_text())["status"] == "diverged"
    assert json.loads((run / "summary.json").read_text())["diverged"] is True


def test_dry_run_prints_spec_and_layers_and_trains_nothing(cli, tiny_spec, tmp_path):
    result = cli("train", tiny_spec(), "--dry-run", "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "activation:" in result.output and "conv1" in result.output and "head" in result.output
    assert not (tmp_path / "runs").exists()


def test_dry_run_of_a_sweep_lists_its_runs(cli, tiny_spec):
    spec = tiny_spec(sweep={"model.activation": ["relu", "tanh"]}, seeds=[0, 1])
    result = cli("train", spec, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output and "tanh" in result.output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "model.conv[0].kernel_size=40"], r"model.conv[0] (layer conv1): "),
        (["--set", "model.activation=swish"], "model.activation: unknown activation 'swish'"),
        (["--set", "data.dataset=cifar11"], "data.dataset: unknown dataset 'cifar11'"),
        (["--set", "train.device=cuda:7"] if not torch.cuda.is_available() else ["--set", "train.device=cuda:99"],
         "train.device: cuda"),
        (["--set", "epochs=3"], 'epochs: unknown key'),
        (["--set", "train.epochs=0"], "train.epochs: Input should be greater than or equal to 1"),
        (["--set", "model.norm=instance", "--set", "model.conv[0].kernel_size=16", "--set", "model.conv[0].padding=0"],
         "model.norm (layer conv1_norm): instance norm on a 1×1 map"),
        (["--set", "data.val_fraction=0", "--set", "train.patience=2"],
         "train.patience: early stopping watches the validation split"),
    ],
)
def test_user_errors_are_one_line(cli, tiny_spec, tmp_path, args, expected):
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs", *args)
    assert result.exit_code == 2
    assert expected in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(("override", "suggested"), [
    ("model.activation=ReLU", "model.activation: unknown activation 'ReLU' (did you mean \"relu\"?)"),
    ("train.optimizer=SGD", "train.optimizer: unknown optimizer 'SGD' (did you mean \"sgd\"?)"),
    ("model.conv[0].pool.type=Max", "model.conv[0].pool.type: unknown pool 'Max' (did you mean \"max\"?)"),
])
def test_a_registry_name_in_other_letter_case_is_refused_with_its_spelling(cli, tiny_spec, override, suggested):
    """Names have one spelling (in specs, run ids, files): ReLU is refused, suggesting relu."""
    result = cli("train", tiny_spec(), "--set", override, "--dry-run")
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {suggested}; choose one of: ")


def test_a_missing_spec_file_suggests_the_closest_one_beside_it(cli, tmp_path, monkeypatch):
    result = cli("train", tmp_path / "nope.yaml")
    assert result.exit_code == 2 and result.stderr == f"error: {tmp_path / 'nope.yaml'}: no such file\n"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "experiments").mkdir()
    for name in ("quickstart.yaml", "depth.yaml"):
        (tmp_path / "experiments" / name).write_text("name: x\n")
    result = cli("train", "experiments/quickstrat.yaml", "--dry-run")
    assert result.exit_code == 2
    assert result.stderr == ('error: experiments/quickstrat.yaml: no such file '
                             '(did you mean "experiments/quickstart.yaml"?)\n')
    assert "did you mean" not in cli("train", "nowhere/quickstrat.yaml").stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_runs_dir(cli, tiny_spec, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = cli("train", tiny_spec(), "--runs-dir", locked / "runs")
    assert result.exit_code == 2 and "not writable" in result.stderr


def test_runs_dir_that_is_a_file(cli, tiny_spec, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("train", tiny_spec(), "--runs-dir", blocker)
    assert result.exit_code == 2 and f"--runs-dir {blocker}: not writable" in result.stderr


def test_help_and_dry_run_do_not_import_torch(heavy_imports, tiny_spec):
    assert heavy_imports(["--help"], ["train", "--help"], ["compare", "--help"], ["eval", "--help"],
                         ["inspect", "--help"], ["shape", "--help"], ["train", tiny_spec(), "--dry-run"],
                         ["train", tiny_spec(), "--dry-run", "--backend", "ray", "--shard", "1/2"]) == []


def test_python_dash_m_works():
    out = subprocess.run([sys.executable, "-m", "cnnlab", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("cnnlab ")


def test_early_stopping_on_the_monitored_metric(cli, tiny_spec, tmp_path):
    train = {"epochs": 6, "batch_size": 32, "device": "cpu", "patience": 1, "monitor": "val_loss",
             "min_delta": 100.0}  # no change of the loss is that large: epoch 2 does not improve on epoch 1
    model = yaml.safe_load(tiny_spec().read_text())["model"]
    result = cli("train", tiny_spec(train=train, model=model), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert "early stopping: val_loss has not improved for 1 epochs" in result.output
    summary = json.loads((only_run(tmp_path / "runs") / "summary.json").read_text())
    assert summary["stopped_early"] is True and summary["epochs_run"] == 2 and summary["best_epoch"] == 1


def test_absent_dataset_with_download_off_is_refused_before_any_run(cli, tiny_spec, tmp_path):
    spec = tiny_spec(data={"dataset": "mnist", "root": str(tmp_path / "data"), "download": False})
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2, result.output
    assert "MNIST/raw/train-images-idx3-ubyte" in result.stderr and "shapes" in result.stderr
    assert not list((tmp_path / "runs").glob("*/*"))


@pytest.mark.slow
def test_the_quickstart_model_learns_and_zero_init_does_not(cli, tmp_path):
    """The lecture's point, as the quickstart shows it: a small CNN is far above chance on shapes within a
    few epochs, the same net with all weights zero stays at chance (1/8)."""
    quickstart = Path(__file__).parent.parent / "experiments" / "quickstart.yaml"
    small = ["--set", "data.dataset.train_size=2000", "--set", "data.dataset.test_size=400", "--set", "train.epochs=3"]
    accuracy = {}
    for init in ("kaiming_normal", "zeros"):
        runs = tmp_path / init
        assert cli("train", quickstart, "--runs-dir", runs, *small, "--set", f"model.init={init}").exit_code == 0
        accuracy[init] = json.loads((only_run(runs) / "summary.json").read_text())["test_acc"]
    assert accuracy["kaiming_normal"] > 0.5
    assert accuracy["zeros"] == pytest.approx(1 / 8, abs=0.03)


# --- a status that is always true, whatever the disk does ------------------------------------

def fail_fsync_of(monkeypatch, target: str, after: int = 0) -> None:
    """os.fsync fails with ENOSPC for the temporary file of `target` (written, not yet renamed), after
    `after` successful writes of it: a disk that fills up mid-run."""
    import errno

    real, seen = os.fsync, []

    def fsync(fd: int) -> None:
        name = os.readlink(f"/proc/self/fd/{fd}")
        if Path(name).name.startswith(f".{target}.") and name.endswith(".tmp"):
            seen.append(name)
            if len(seen) > after:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


def test_a_full_disk_mid_run_marks_it_failed_and_leaves_no_temporary_file(cli, tiny_spec, tmp_path, monkeypatch):
    fail_fsync_of(monkeypatch, "last.pt", after=1)  # the second epoch's checkpoint does not fit
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    run = only_run(tmp_path / "runs")
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"] == f"No space left on device: {run}/checkpoints/last.pt"
    assert "failed: No space left on device" in result.output
    assert not list((tmp_path / "runs").rglob("*.tmp"))


def test_a_run_whose_first_files_cannot_be_written_leaves_nothing(cli, tiny_spec, tmp_path, monkeypatch):
    fail_fsync_of(monkeypatch, "meta.json")
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    assert "cannot write a new run's files" in result.output and "No space left on device" in result.output
    assert [p.name for p in (tmp_path / "runs" / "tiny").iterdir()] == []  # no half-made run directory


def test_a_nan_validation_loss_is_diverged(cli, tiny_spec, tmp_path, monkeypatch):
    import math

    from cnnlab.train import loop

    real, calls = loop.evaluate, []

    def evaluate(model, batches, head, classes):
        calls.append(1)
        loss, acc, balanced = real(model, batches, head, classes)
        return (math.nan if len(calls) == 2 else loss), acc, balanced  # epoch 2's validation

    monkeypatch.setattr(loop, "evaluate", evaluate)
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1 and "epoch 2: the validation loss became NaN or infinite" in result.output
    run = only_run(tmp_path / "runs")
    assert json.loads((run / "meta.json").read_text())["status"] == "diverged"
    assert len((run / "metrics.csv").read_text().splitlines()) == 2  # header and epoch 1


# --- one run, one process; the runs directory is never left ------------------------------------

def test_a_run_claimed_by_another_process_is_skipped(cli, tiny_spec, tmp_path):
    from cnnlab.rundir.claim import RunClaim
    from cnnlab.spec import load_spec
    from cnnlab.spec.identity import identity_key

    spec = tiny_spec()
    runs = tmp_path / "runs"
    with RunClaim.acquire(runs, identity_key(load_spec(spec).resolved())):  # as a second `cnnlab train` would
        result = cli("train", spec, "--runs-dir", runs)
    assert result.exit_code == 0, result.output
    assert f"skipped: another cnnlab process is training it now (pid {os.getpid()}" in result.output
    assert not list(runs.glob("tiny/*"))


WINDOWS_CLAIM = """
import fcntl, os, platform, sys, types
from pathlib import Path

def locking(fd, mode, nbytes):  # Windows' byte lock, played by flock: refused while another holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise PermissionError(13, "Permission denied") from None

sys.modules["msvcrt"] = types.SimpleNamespace(LK_NBLCK=2, locking=locking)
sys.modules["fcntl"] = None  # as on Windows: `import fcntl` fails
sys.platform = "win32"
from cnnlab.rundir.claim import ClaimHeld, RunClaim
with RunClaim.acquire(Path(sys.argv[1]), "key"):
    try:
        RunClaim.acquire(Path(sys.argv[1]), "key")
    except ClaimHeld as held:
        print(os.getpid(), held.holder, sep="|")
"""


def test_the_claim_needs_no_fcntl_where_there_is_none(tmp_path):
    """On Windows the claim is msvcrt's lock; the second process learns who holds the run."""
    done = subprocess.run([sys.executable, "-c", WINDOWS_CLAIM, str(tmp_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    pid, holder = done.stdout.strip().split("|")
    assert holder == f"pid {pid} on {platform.node()}"


@pytest.mark.slow
def test_two_processes_starting_the_same_spec_train_it_once(tiny_spec, tmp_path):
    spec = tiny_spec(train={**TINY_TRAIN, "epochs": 30})
    command = [sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(tmp_path / "runs")]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert len(list((tmp_path / "runs").glob("tiny/*/meta.json"))) == 1
    assert sum("run completed" in out for out in outputs) == 1
    assert any("another cnnlab process is training it now" in out or "already completed" in out for out in outputs)


def test_a_taken_run_id_is_replaced_by_another(cli, tiny_spec, tmp_path, monkeypatch):
    import cnnlab.run.opening as execute

    ids = iter(["taken", "free"])
    monkeypatch.setattr(execute, "make_run_id", lambda swept, overrides, seed: next(ids))
    (tmp_path / "runs" / "tiny" / "taken").mkdir(parents=True)
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "runs" / "tiny" / "free" / "meta.json").read_text())["status"] == "completed"
    assert list((tmp_path / "runs" / "tiny" / "taken").iterdir()) == []


def test_an_experiment_folder_that_links_out_of_the_runs_directory_is_refused(cli, tiny_spec, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "tiny").symlink_to(outside)
    result = cli("train", tiny_spec(seeds=[0, 1]), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2 and "outside the runs directory" in result.stderr
    assert list(outside.iterdir()) == []  # not even sweep.yaml


# --- mistakes the spec alone shows: one line, before any run directory -------------------------

@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--set", "model.kind=mlp", "--set", "train.batch_size=1"], "train.batch_size: 1 with batch norm (layer "
                                                                     "fc1_norm, its features)"),
        (["--set", "data.dataset.train_size=4", "--set", "data.val_fraction=0.9"],
         "data.val_fraction: 0.9 of 4 training images holds out all of them"),
        (["--set", "seed=!!int x"], "--set 'seed=!!int x': 'x' is not an integer"),
        (["--set", "train.optimizer.lr=.nan"], "option 'lr': Input should be a finite number"),
        (["--set", "train.optimizer.lr=0"], "option 'lr': Input should be greater than 0"),
        (["--set", "seeds=[]"], "seeds: an empty list makes no runs"),
    ],
)
def test_spec_mistakes_are_one_line_before_any_run(cli, tiny_spec, tmp_path, args, expected):
    for dry in ([], ["--dry-run"]):
        result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs", *args, *dry)
        assert result.exit_code == 2, result.output
        assert expected in result.stderr and result.stderr.count("\n") == 1
        assert not (tmp_path / "runs").exists()


def test_an_impossible_date_for_a_seed_names_the_key_and_the_file(cli, tmp_path):
    spec = tmp_path / "exp.yaml"
    spec.write_text("seed: 2024-13-45\n")
    result = cli("train", spec, "--dry-run")
    assert result.exit_code == 2 and result.stderr == "error: seed: Input should be a valid integer, got '2024-13-45'\n"
    spec.write_text("seed: " + "9" * 5000 + "\n")
    result = cli("train", spec, "--dry-run")
    assert result.stderr == (f"error: {spec}: a 5000-digit integer is too large; cnnlab's integers fit in 64 bits "
                             f"(line 1)\n")


# --- resume: what it refuses ---------------------------------------------------------------

def test_resume_refuses_a_completed_run_a_changed_result_and_a_spec_file(cli, tiny_spec, tmp_path):
    spec = tiny_spec()
    assert cli("train", spec, "--runs-dir", tmp_path / "runs").exit_code == 0
    run = only_run(tmp_path / "runs")
    meta = run / "meta.json"
    result = cli("train", "--resume", run)
    assert result.exit_code == 2 and "completed; there is nothing to resume" in result.stderr
    meta.write_text(meta.read_text().replace('"completed"', '"interrupted"'))
    result = cli("train", "--resume", run, "--set", "train.optimizer.lr=0.1")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: train.optimizer.lr: --set changes it, which changes the result")
    result = cli("train", run)
    assert result.exit_code == 2 and f"cnnlab train --resume {run}" in result.stderr
    result = cli("train", "--resume", tmp_path / "runs" / "tiny")
    assert result.exit_code == 2 and "an experiment folder, not a run" in result.stderr


def test_resuming_a_run_from_anywhere_takes_its_claim_beside_it(cli, tiny_spec, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    assert cli("train", tiny_spec(), "--runs-dir", runs).exit_code == 0
    run = only_run(runs)
    meta = run / "meta.json"
    meta.write_text(meta.read_text().replace('"completed"', '"interrupted"'))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = cli("train", "--resume", run, "--set", "train.threads=1")
    assert result.exit_code == 0, result.output
    assert "resuming after epoch 2 of 2" in result.output and list(elsewhere.iterdir()) == []
    resumed = json.loads(meta.read_text())
    assert resumed["status"] == "completed" and resumed["resumptions"][0]["command"] == \
        f"cnnlab train {run} --set train.threads=1 --resume"
