"""What a run and a sweep show while they run: the sweep board (overall line, running runs, one line per
finished run, the time-left estimate), progress from parallel workers, a single run's summary."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from cnnlab.cli import app
from cnnlab.run.board import SweepBoard
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.request import TrainRequest
from cnnlab.run.workers.pool import WorkerPool
from cnnlab.rundir.records import RunSummary
from cnnlab.train.progress import RunProgress

ESC = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def board(labels: list[str], jobs: int = 1) -> tuple[SweepBoard, io.StringIO, Clock]:
    out, clock = io.StringIO(), Clock()
    console = Console(file=out, width=200, force_terminal=False)
    return SweepBoard(console, labels, jobs, now=clock), out, clock


def summary(test_acc: float, **extra) -> RunSummary:
    return RunSummary(test_acc=test_acc, best_val_acc=test_acc, train_seconds=12.3, classes=[str(i) for i in range(8)],
                      split_sizes={"test": 2000}, chance_acc=0.125, **extra)


def test_a_finished_run_is_one_compact_line_with_its_verdict_and_directory():
    b, out, _ = board(["activation=relu seed=0", "activation=sigmoid seed=0"])
    b.started(0)
    b.finished(0, Outcome("completed", Path("runs/act/20261128-0101-relu-s0-ab12"), summary(0.9425), None))
    b.started(1)
    b.finished(1, Outcome("completed", Path("runs/act/x-sigmoid-s0-cd34"), summary(0.125), None))
    lines = out.getvalue().splitlines()
    assert lines[0] == ("[1/2] completed  activation=relu seed=0  test acc 94.25%  best val 94.25%  12.3s  "
                        "runs/act/20261128-0101-relu-s0-ab12")
    assert "test acc 12.50% = chance for 8 classes: the network did not learn" in lines[1]
    assert lines[1].count("test acc") == 1 and len(lines) == 2


def test_in_a_terminal_a_finished_run_ends_with_its_id_without_the_date():
    out = io.StringIO()
    b = SweepBoard(Console(file=out, width=80, force_terminal=True, force_interactive=False, no_color=True), ["a"])
    b.finished(0, Outcome("completed", Path("runs/act/20261128-010203-relu-s0-ab12"), summary(0.9425), None))
    assert ESC.sub("", out.getvalue()).rstrip().endswith("12.3s  relu-s0-ab12")


def test_a_failed_or_diverged_run_says_why_and_where():
    b, out, _ = board(["a", "b"])
    b.finished(0, Outcome("failed", Path("runs/x/r1"), None, "train.device: cuda:9 does not exist"))
    b.finished(1, Outcome("diverged", Path("runs/x/r2"), summary(0.3, diverged=True, epochs_run=2), None))
    text = out.getvalue()
    assert "[1/2] failed     a: train.device: cuda:9 does not exist  traceback in runs/x/r1/log.txt" in text
    assert "diverged: the loss became NaN or infinite in epoch 3" in text


def test_the_overall_line_counts_and_estimates_the_time_left():
    b, _, clock = board([f"run{i}" for i in range(6)], jobs=2)
    assert b.overall_line() == "0/6 done, 0 running, 6 left · 0.0s elapsed"  # no pace known yet: no estimate
    b.started(0)
    b.started(1)
    clock.t += 10
    b.progress(0, RunProgress(epoch=2, epochs=4, batch=50, batches=100))  # 37.5% in 10 s: 26.7 s a run
    assert "about" in b.overall_line() and "2 running, 4 left" in b.overall_line()
    clock.t += 20
    b.finished(0, Outcome("completed", None, None, None))  # a run takes 30 s
    b.finished(1, Outcome("failed", None, None, "boom"))
    b.started(2)
    b.started(3)
    clock.t += 10
    # two runs 10 s into their 30 s, two not started: (2·30 + 2·20) / 2 jobs = 50 s
    assert b.eta() == pytest.approx(50.0)
    assert b.overall_line() == "1/6 done, 1 failed, 2 running, 2 left · 40.0s elapsed, about 50.0s left"


def test_a_run_slower_than_the_others_is_judged_by_its_own_pace():
    b, _, clock = board(["a", "b"], jobs=1)
    b.started(0)
    clock.t += 10
    b.finished(0, Outcome("completed", None, None, None))
    b.started(1)
    clock.t += 20
    b.progress(1, RunProgress(epoch=1, epochs=2, batch=100, batches=100))  # half done after 20 s
    assert b.eta() == pytest.approx(20.0)


def test_a_running_run_shows_its_numbers_before_its_label():
    b, _, clock = board(["activation=relu seed=0"])
    b.started(0)
    assert b.running_line(b.running[0]).startswith("  starting (0.0s)")
    b.progress(0, RunProgress(epoch=3, epochs=10, batch=50, batches=100, images_per_second=2911.4, val_acc=0.9375))
    assert b.running_line(b.running[0]) == "  epoch 3/10 (25%)  val acc 93.75%  2,911 img/s  activation=relu seed=0"


class Recorder:
    """A reporter that notes what a scheduler tells it."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    @contextlib.contextmanager
    def begin(self, description: str, jobs: int):
        self.events.append(("begin", description, jobs))
        yield

    def for_run(self, index: int, epochs: int):
        raise AssertionError("worker processes report through the pipe, not a trainer reporter here")

    def started(self, index: int) -> None:
        self.events.append(("started", index))

    def progress(self, index: int, event: RunProgress) -> None:
        self.events.append(("progress", index, event))

    def finished(self, index: int, outcome: Outcome) -> None:
        self.events.append(("finished", index, outcome.status))


def test_parallel_workers_send_their_progress_to_the_parent(tiny_spec, tmp_path):
    planned = plan(TrainRequest(tiny_spec(sweep={"model.activation": ["relu", "tanh"]}), runs_dir=tmp_path / "runs",
                                jobs=2))
    recorder = Recorder()
    tally = WorkerPool(2).run(planned, StopPolicy(), recorder)
    assert tally.counts == {"completed": 2}
    assert recorder.events[0] == ("begin", f"2 runs, 2 at a time, into {tmp_path / 'runs' / 'tiny'}/", 2)
    for index in (0, 1):
        mine = [e for e in recorder.events if e[0] != "begin" and e[1] == index]
        assert mine[0] == ("started", index) and mine[-1] == ("finished", index, "completed")
        progress = [e[2] for e in mine if e[0] == "progress"]
        assert {p.epoch for p in progress} == {1, 2} and progress[-1].batch == progress[-1].batches
        assert progress[-1].val_acc is not None  # the first epoch's, shown while the second runs


def cli(*args: object, env: dict | None = None):
    env = {"TTY_COMPATIBLE": "0", "COLUMNS": None, **(env or {})}
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    return result, ESC.sub("", result.stdout)


def test_a_sweep_through_a_pipe_prints_one_line_per_run_and_no_box(tiny_spec, tmp_path):
    spec = tiny_spec(sweep={"model.activation": ["relu", "tanh"]})
    result, out = cli("train", spec, "--runs-dir", tmp_path / "runs", "--jobs", "2")
    assert result.exit_code == 0, result.output
    lines = out.splitlines()
    folder = tmp_path / "runs" / "tiny"
    assert lines[0] == f"running 2 runs, 2 at a time, into {folder}/ (each run's log.txt has its log)"
    finished = [line for line in lines if line.startswith("[")]
    assert [line.split()[0] for line in finished] == ["[1/2]", "[2/2]"]
    assert all(re.search(r"activation=(relu|tanh) seed=0  test acc", line) for line in finished)
    assert "run completed" not in out and "epoch" not in out  # neither the box nor the epoch lines
    assert lines[-1].startswith("2 runs: 2 completed · in ")


def test_a_sequential_sweep_prints_the_same_lines(tiny_spec, tmp_path):
    result, out = cli("train", tiny_spec(sweep={"model.activation": ["relu", "tanh"]}), "--runs-dir", tmp_path / "r")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "r" / "tiny"
    assert out.splitlines()[0] == f"running 2 runs one at a time into {folder}/ (each run's log.txt has its log)"
    assert [line.split()[0] for line in out.splitlines() if line.startswith("[")] == ["[1/2]", "[2/2]"]
    assert "run completed" not in out


def test_a_sweep_in_a_terminal_shows_the_live_board(tiny_spec, tmp_path):
    spec = tiny_spec(sweep={"model.activation": ["relu", "tanh"]})
    result, out = cli("train", spec, "--runs-dir", tmp_path / "runs",
                      env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    assert re.search(r"0/2 done, 1 running, 1 left · \d", out)  # the overall line, drawn while the first runs
    assert "[2/2] completed" in out


def test_a_single_run_ends_with_its_summary_and_its_run_directory_in_full(tiny_spec, tmp_path):
    runs = tmp_path / "a-rather-long-folder-name-for-runs-that-would-not-fit-in-the-summary-box" / "runs"
    result, out = cli("train", tiny_spec(), "--runs-dir", runs, env={"TTY_COMPATIBLE": "1", "COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    run = next((runs / "tiny").iterdir())
    assert "run completed" in out and "test acc (best checkpoint)" in out
    assert out.splitlines()[-1] == f"run directory: {run}"


def test_piped_train_output_is_data_with_no_padding_at_line_ends(tiny_spec, tmp_path):
    for spec in (tiny_spec(), tiny_spec("sweep.yaml", seeds=[0, 1])):
        result, out = cli("train", spec, "--runs-dir", tmp_path / "runs")
        assert result.exit_code == 0, result.output
        assert [line for line in out.splitlines() if line != line.rstrip()] == []
