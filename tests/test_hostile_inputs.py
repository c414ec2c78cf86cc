"""Files that are not what they seem, and arguments that are not text: a FIFO or a link to /dev/zero
among a run's files, a spec of many megabytes, a search for runs that would walk the whole disk, a
command-line argument that is not UTF-8, a file that is no YAML spec at all. Each ends in one line
(a warning, or an `error:` and a non-zero exit), at once: the commands run in subprocesses, so that
one that blocks or reads without end fails its timeout instead of hanging the suite."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import TINY

GUARD_S = 60  # each case answers in well under 2 s; this only keeps a regression from hanging the suite


def cnnlab(*args: str | bytes | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """`cnnlab ARGS` in a fresh interpreter (no terminal: plain output), bounded by GUARD_S."""
    env = {**os.environ, "TTY_COMPATIBLE": "0", "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "cnnlab", *map(os.fsencode, args)], capture_output=True, text=True,
                          timeout=GUARD_S, cwd=cwd, env=env)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    """The single `error:` line a refused command printed (no traceback), without the prefix."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("error: ")
    return done.stderr.removeprefix("error: ").strip()


@pytest.fixture
def hostile_runs(tmp_path, make_run):
    """runs/act with three completed runs: the first's metrics.csv and diagnostics.csv are FIFOs that no
    process writes, the second's summary.json a link to /dev/zero, the third whole."""
    group = tmp_path / "runs" / "act"
    runs = [make_run(group, seed=seed) for seed in range(3)]
    (runs[0] / "metrics.csv").unlink()
    os.mkfifo(runs[0] / "metrics.csv")
    os.mkfifo(runs[0] / "diagnostics.csv")
    (runs[1] / "summary.json").unlink()
    (runs[1] / "summary.json").symlink_to("/dev/zero")
    return group, runs


@pytest.mark.parametrize("command", [["ls"], ["compare"], ["inspect"], ["report", "--no-plots", "--out", "report"]])
def test_a_fifo_or_a_device_among_run_files_is_one_warning_each(hostile_runs, tmp_path, command):
    group, runs = hostile_runs
    done = cnnlab(command[0], group, *command[1:], cwd=tmp_path)
    warnings = [line for line in done.stderr.splitlines() if "not a regular file" in line]
    assert f"{runs[0] / 'metrics.csv'}: a FIFO, not a regular file" in warnings[0]
    assert f"{runs[1]}: summary.json is a character device, not a regular file" in warnings[1]
    if command == ["inspect"]:  # the one that reads diagnostics.csv (no run here has a readable one)
        assert f"{runs[0] / 'diagnostics.csv'}: a FIFO, not a regular file" in warnings[2]
        assert done.returncode == 2 and done.stderr.endswith("none of the 3 runs has diagnostics.csv; " +
                                                             done.stderr.split("diagnostics.csv; ")[-1])
    else:
        assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr


def test_a_spec_that_is_a_device_or_far_too_large_is_refused_before_it_is_read(tmp_path):
    assert one_error_line(cnnlab("train", "/dev/zero", "--dry-run")) == (
        "/dev/zero: a character device, not a regular file (cnnlab reads only regular files)")
    os.mkfifo(tmp_path / "fifo.yaml")
    assert "fifo.yaml: a FIFO, not a regular file" in one_error_line(cnnlab("shape", tmp_path / "fifo.yaml"))
    plain_list = tmp_path / "list.yaml"  # 2 MB of one plain list: twice the cap, and no alias in it
    plain_list.write_text("sweep: {seed: [" + ", ".join(["1"] * 700_000) + "]}\n")
    assert one_error_line(cnnlab("train", plain_list, "--dry-run")) == (
        f"{plain_list}: too large (2.0 MiB; cnnlab reads at most 1.0 MiB of a spec)")


def test_a_description_of_megabytes_is_never_trained_nor_copied(tmp_path):
    spec = tmp_path / "long.yaml"
    spec.write_text(yaml.safe_dump({**TINY, "description": "x" * (2 << 20)}))
    assert "too large" in one_error_line(cnnlab("train", spec, "--runs-dir", tmp_path / "runs"))
    assert not (tmp_path / "runs").exists()


def test_a_description_longer_than_a_spec_file_is_refused_from_python_too():
    """`cnnlab.train(spec_dict)` reads no file: the description's own cap refuses it, in one line."""
    from cnnlab.spec import SpecError, resolve
    from cnnlab.util.reading import SPEC_BYTES

    with pytest.raises(SpecError, match="^description: String should have at most 1048576 characters") as err:
        resolve({**TINY, "description": "x" * (SPEC_BYTES + 1)})
    assert "\n" not in str(err.value) and len(str(err.value)) < 300


def test_a_long_plain_list_within_the_cap_is_refused_for_what_it_is(tmp_path):
    """Under the size cap, more values than a spec can hold: named as a long list, not blamed on aliases."""
    spec = tmp_path / "list.yaml"
    spec.write_text("sweep: {seed: [" + ", ".join(["1"] * 200_000) + "]}\n")
    assert one_error_line(cnnlab("train", spec, "--dry-run")) == (
        f"{spec}: the document holds more than 100,000 values; a spec holds a few hundred (line 1)")


def test_the_costliest_spec_under_the_cap_is_refused_within_2_s(tmp_path):
    """Item 1's bound, on cnnlab's own time (no interpreter start-up): 1 MiB of one plain list, the most
    that passes the size cap, is refused from its parser's events in 0.4 s on a 2-core machine (building
    its nodes first took seconds). Every other case is refused by fstat before a byte is read."""
    from cnnlab.spec import SpecError
    from cnnlab.spec.load import read_yaml

    spec = tmp_path / "list.yaml"
    spec.write_text("sweep: {seed: [" + ", ".join(["1"] * 349_000) + "]}\n")
    assert 0.99 < spec.stat().st_size / (1 << 20) <= 1
    start = time.perf_counter()
    with pytest.raises(SpecError, match="more than 100,000 values"):
        read_yaml(spec)
    assert time.perf_counter() - start < 2


def test_eval_of_a_missing_path_looks_only_in_the_folder_it_names(tmp_path, make_run):
    """`cnnlab eval /nonexistent` once walked all of / and read every run it found there."""
    make_run(tmp_path / "elsewhere" / "runs" / "act")
    broken = tmp_path / "elsewhere" / "runs" / "act" / "broken"
    broken.mkdir()
    (broken / "spec.yaml").write_text("[not a spec")
    message = one_error_line(cnnlab("eval", tmp_path / "nonexistent"))
    assert message == (f"{tmp_path / 'nonexistent'}: no such run, and {tmp_path} holds no runs of its own (a run "
                       f"directory holds meta.json or spec.yaml)")


def test_an_argument_that_is_not_utf8_is_one_line(tmp_path):
    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    assert one_error_line(cnnlab("train", spec, "--dry-run", "--set", b"name=\xff\xfe")) == (
        r"argument 5 (name=\xff\xfe) is not UTF-8 text; cnnlab takes UTF-8 arguments, file names included")


def test_an_override_that_is_not_utf8_is_a_spec_error_in_the_library(tmp_path):
    from cnnlab.errors import CnnlabError
    from cnnlab.spec import load_experiment

    spec = tmp_path / "exp.yaml"
    spec.write_text(yaml.safe_dump(TINY))
    with pytest.raises(CnnlabError, match="not UTF-8 text"):
        load_experiment(spec, [os.fsdecode(b"name=\xff\xfe")])


def test_a_file_that_is_no_spec_is_named_by_line_and_column_never_quoted(tmp_path):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n")
    message = one_error_line(cnnlab("train", shadow, "--dry-run"))
    assert message == (f"{shadow}: not an experiment spec: none of its top-level keys (the first at line 1, column 1) "
                       f"is a spec key (name, seed, data, model, train, sweep, seeds, description, claims)")
    assert "root" not in message.removeprefix(str(shadow)) and "daemon" not in message
