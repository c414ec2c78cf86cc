"""A run at the edges of its machine: a disk that fills up (real tmpfs mounts, where `mount` is
permitted), a checkpoint's temporary file left by a SIGKILL, a runs/.claims that links elsewhere, a
damaged last.pt at resume. Each is one line and a true status, and nothing is lost."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cnnlab.rundir.store import RunStore
from tests.conftest import TINY

BIG = {**TINY, "name": "big", "model": {**TINY["model"], "fc": [512]}}  # 1.05M parameters: last.pt is 4 MB


def status(run: Path) -> str:
    return json.loads((run / "meta.json").read_text())["status"]


def runs_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*/*") if p.is_dir())


@pytest.fixture
def tmpfs(tmp_path):
    """`tmpfs(size)`: a fresh tmpfs of that size (`2m`, `12k`) mounted in tmp_path; unmounted after."""
    mounted = []

    def mount(size: str) -> Path:
        point = tmp_path / f"tmpfs-{size}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"mount is not permitted here: {done.stderr.strip()}")
        mounted.append(point)
        return point

    if sys.platform != "linux":
        pytest.skip("tmpfs is Linux's")
    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def train(spec: dict, tmp_path: Path, runs: Path, *args: str) -> subprocess.CompletedProcess:
    """`cnnlab train` of `spec` in a process of its own (so that its pid is gone when it returns)."""
    path = tmp_path / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return subprocess.run([sys.executable, "-m", "cnnlab", "train", str(path), "--runs-dir", str(runs), *args],
                          capture_output=True, text=True, timeout=300)


def test_a_checkpoint_that_fills_the_disk_names_the_file_not_torchs_zip_writer(tmpfs, tmp_path):
    runs = tmpfs("2m") / "runs"
    done = train(BIG, tmp_path, runs)
    assert done.returncode == 1, done.stdout + done.stderr
    (run,) = runs_of(runs)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "failed"
    assert meta["error"] in [f"No space left on device: {run.resolve()}/checkpoints/{name}" for name in ("best.pt",
                                                                                                      "last.pt")]
    assert "inline_container" not in done.stdout + done.stderr and "Traceback" not in done.stderr
    assert not list(runs.rglob("*.tmp"))


def test_a_status_that_cannot_be_written_says_so_and_the_run_shows_as_stale(tmpfs, tmp_path):
    runs = tmpfs("12k") / "runs"  # room for spec.yaml and the first meta.json, not for another
    done = train(TINY, tmp_path, runs)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if "could not be recorded" in line]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "No space left on device" in lines[0]
    (run,) = runs_of(runs)
    assert status(run) == "running"  # as far as meta.json knows; its process is gone
    listed = subprocess.run([sys.executable, "-m", "cnnlab", "ls", str(runs), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert [r["status"] for r in json.loads(listed.stdout)] == ["stale"]


def test_a_completed_run_whose_status_cannot_be_written_is_no_success(cli, tiny_spec, tmp_path, monkeypatch):
    update = RunStore.update_meta

    def full_at_the_end(self, **changes):
        if changes.get("status") == "completed":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self.path / ".meta.json.x1y2z3.tmp"))
        return update(self, **changes)

    monkeypatch.setattr(RunStore, "update_meta", full_at_the_end)
    result = cli("train", tiny_spec(), "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 1, result.output
    (run,) = runs_of(tmp_path / "runs")
    assert (f"error: {run} completed, but its status could not be recorded in meta.json (No space left on device: "
            f"{run}/meta.json)") in result.stderr
    assert (run / "summary.json").is_file() and status(run) == "running"


@pytest.fixture
def interrupted(cli, tiny_spec, tmp_path):
    """A run directory stopped after its first epoch, as SIGINT leaves it (last.pt there)."""
    assert cli("train", tiny_spec(train={**TINY["train"], "epochs": 1}), "--runs-dir", tmp_path / "runs").exit_code == 0
    (run,) = runs_of(tmp_path / "runs")
    spec = yaml.safe_load((run / "spec.yaml").read_text())
    spec["train"]["epochs"] = 2  # as if it had been stopped after epoch 1 of 2
    (run / "spec.yaml").write_text(yaml.safe_dump(spec))
    (run / "summary.json").unlink()
    RunStore(run).update_meta(status="interrupted", ended=None, error="interrupted by SIGINT at the end of epoch 1")
    return run


def test_a_resume_removes_what_a_killed_write_left_and_completes(cli, interrupted):
    left = [interrupted / "checkpoints" / ".last.pt.k2j3h4g5.tmp", interrupted / ".meta.json.a1b2c3d4.tmp"]
    for path in left:
        path.write_bytes(b"\0" * 874_000)  # half a checkpoint, as SIGKILL mid-write leaves it
    result = cli("train", "--resume", interrupted)
    assert result.exit_code == 0, result.output
    assert status(interrupted) == "completed"
    assert not any(path.exists() for path in left)


@pytest.mark.parametrize(("damage", "detail"), [
    (lambda data: b"not a checkpoint" * 100, "truncated or damaged: File is not a zip file"),
    (lambda data: data[: len(data) // 2], "truncated or damaged"),
    (lambda data: data[:-200] + bytes(200), "truncated or damaged"),
    (lambda data: b"", "empty"),
])
def test_a_damaged_last_checkpoint_is_an_error_and_the_run_stays_interrupted(cli, interrupted, damage, detail):
    last = interrupted / "checkpoints" / "last.pt"
    last.write_bytes(damage(last.read_bytes()))
    result = cli("train", "--resume", interrupted)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {last}: not a readable checkpoint ({detail}")
    assert result.stderr.count("\n") == 1 and "replace it with a good copy" in result.stderr
    assert status(interrupted) == "interrupted"


def test_a_claims_folder_that_links_out_of_the_runs_directory_is_refused(cli, tiny_spec, tmp_path):
    outside, runs = tmp_path / "outside", tmp_path / "runs"
    outside.mkdir()
    runs.mkdir()
    (runs / ".claims").symlink_to(outside)
    result = cli("train", tiny_spec(), "--runs-dir", runs)
    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: {runs / '.claims'} leads to {outside}, outside the runs directory {runs}; cnnlab "
                             f"writes runs only inside it: remove the link or choose another --runs-dir\n")
    assert list(outside.iterdir()) == [] and not (runs / "tiny").exists()
