"""What a sweep shows while it runs, whichever scheduler runs it (the reporter of a plan of several
runs; a single run has cnnlab.run.report.SingleRun).

In an interactive terminal, a live display at the bottom: one overall line (done, failed, running and
left; elapsed time; an estimate of the time left) and one line per running run (its epoch, the last
validation accuracy, images per second). Above it, and alone when the output is not a terminal (a
pipe, a file, TTY_INTERACTIVE=0), one compact line per finished run, ending with its run directory
(in a terminal, whose first line names the folder, its id without the date: what `cnnlab eval
FOLDER/PIECE` takes):

    [3/12] completed  activation=tanh seed=0  test acc 84.20%  best val 85.00%  12.3s  runs/act/20261128-…-tanh-s0-ab12

The time left is estimated from the runs' progress: the mean duration of finished runs (or, before
any has finished, the pace of the running ones) times the work left, shared over the parallel jobs.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from cnnlab.run.outcome import Outcome
from cnnlab.rundir.ids import undated
from cnnlab.rundir.verdicts import verdicts
from cnnlab.train.progress import EventReporter, RunProgress
from cnnlab.util.text import duration

STATUS_STYLES = {"completed": "green", "diverged": "magenta", "failed": "red", "interrupted": "yellow"}


def shown_path(path: Path) -> str:
    """A run directory as the user can type it: relative to the working directory when inside it."""
    try:
        return os.path.relpath(path) if Path(path).resolve().is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)


@dataclass
class Running:
    label: str
    started: float
    progress: RunProgress | None = None


@dataclass
class SweepBoard:
    """The display of one sweep of `total` runs, `jobs` at a time; `labels[i]` names run i (its
    index among the plan's runs to train)."""

    console: Console
    labels: list[str]
    jobs: int = 1
    now: Callable[[], float] = time.monotonic  # the clock (a test's own)
    round_label: str | None = None  # `round 2`: the round of --until-decided this sweep of runs is
    running: dict[int, Running] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)  # of the finished runs, in seconds
    counts: dict[str, int] = field(default_factory=dict)
    live: Live | None = None

    def __post_init__(self) -> None:
        self.clock = self.now()  # when the sweep started

    @property
    def total(self) -> int:
        return len(self.labels)

    @contextlib.contextmanager
    def begin(self, description: str, jobs: int) -> Iterator[None]:
        """`running DESCRIPTION`, then the live display (in an interactive terminal) while inside."""
        self.jobs = jobs
        self.console.print(f"running {description} (each run's log.txt has its log)", markup=False)
        if self.console.is_interactive:
            self.live = Live(console=self.console, get_renderable=self.render, transient=True,
                             refresh_per_second=4, redirect_stdout=False, redirect_stderr=False)
            self.live.start()
        try:
            yield
        finally:
            if self.live is not None:
                self.live.stop()
                self.live = None

    # ------------------------------------------------------------ events

    def for_run(self, index: int, epochs: int):
        """How a run trained in this process reports: its log, and its progress to the board."""
        return lambda store: EventReporter(store, lambda event: self.progress(index, event))

    def started(self, index: int) -> None:
        self.running[index] = Running(self.labels[index], self.now())
        if self.live is not None:
            self.live.refresh()  # at once: a run's start is news

    def progress(self, index: int, event: RunProgress) -> None:
        if index not in self.running:
            self.started(index)
        self.running[index].progress = event

    def finished(self, index: int, outcome: Outcome) -> None:
        """Note how run `index` ended and print its line."""
        run = self.running.pop(index, None)
        if run is not None and outcome.status in ("completed", "diverged"):
            self.durations.append(self.now() - run.started)
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        self.console.print(self.result_line(index, outcome))

    # ------------------------------------------------------------ lines

    def result_line(self, index: int, outcome: Outcome) -> Text:
        status, path, summary, error = outcome.status, outcome.path, outcome.summary, outcome.error
        done = sum(self.counts.values())
        line = Text()
        line.append(f"[{done}/{self.total}] ", style="dim")
        line.append(f"{status:<9}", style=STATUS_STYLES.get(status, ""))
        line.append(f"  {self.labels[index]}")
        said = verdicts(summary)
        if summary is not None:
            if summary.test_acc is not None and not any(v.startswith("test acc") for v in said):
                line.append(f"  test acc {summary.test_acc:.2%}")
            for verdict in said:
                line.append(f"  {verdict}", style="yellow")
            if summary.best_val_acc is not None:
                line.append(f"  best val {summary.best_val_acc:.2%}")
            if summary.train_seconds is not None:
                line.append(f"  {duration(summary.train_seconds)}")
        if error:
            line.append(f": {error}", style="red")
        if path is not None and status == "failed":
            line.append(f"  traceback in {shown_path(path / 'log.txt')}", style="dim")
        elif path is not None:  # a terminal has the folder in the first line; a pipe or file, every path whole
            line.append(f"  {undated(path.name) if self.console.is_terminal else shown_path(path)}", style="dim")
        return line

    def overall_line(self) -> str:
        finished = sum(self.counts.values())
        parts = [f"{self.counts.get('completed', 0)}/{self.total} done"]
        parts += [f"{n} {status}" for status, n in self.counts.items() if status != "completed"]
        parts += [f"{len(self.running)} running", f"{self.total - finished - len(self.running)} left"]
        elapsed = self.now() - self.clock
        eta = self.eta()
        times = f"{duration(elapsed)} elapsed" + (f", about {duration(eta)} left" if eta else "")
        lead = f"{self.round_label} · " if self.round_label else ""
        return f"{lead}{', '.join(parts)} · {times}"

    def running_line(self, run: Running) -> str:
        """The numbers first, the run's label last: a narrow terminal cuts the label, never a number."""
        p = run.progress
        if p is None:
            return f"  starting ({duration(self.now() - run.started)})  {run.label}"
        val = f"  val acc {p.val_acc:.2%}" if p.val_acc is not None else ""
        speed = f"  {p.images_per_second:,.0f} img/s" if p.images_per_second else ""
        return f"  epoch {p.epoch}/{p.epochs} ({p.fraction:.0%}){val}{speed}  {run.label}"

    def render(self) -> Group:
        return Group(Text(self.overall_line(), style="bold"),
                     *(Text(self.running_line(run), overflow="ellipsis", no_wrap=True)
                       for run in self.running.values()))

    # ------------------------------------------------------------ the estimate

    def eta(self) -> float | None:
        """Seconds until the sweep ends: the work left (runs not started, and what the running ones
        still have to do) at the pace seen so far, shared over the jobs; None before any pace is known.

        A run's duration is the mean of the finished runs' (or, before any has finished, the median
        pace of the running ones); a running run that has gone past it is judged by its own pace."""
        now = self.now()
        paces = {i: (now - r.started) / r.progress.fraction for i, r in self.running.items()
                 if r.progress is not None and r.progress.fraction >= 0.02}
        if self.durations:
            per_run = statistics.fmean(self.durations)
        elif paces:
            per_run = statistics.median(paces.values())
        else:
            return None
        remaining = []
        for i, run in self.running.items():
            elapsed = now - run.started
            expected = per_run if elapsed < per_run else paces.get(i, elapsed)  # past the mean: its own pace
            remaining.append(max(expected - elapsed, 0.0))
        left = self.total - sum(self.counts.values()) - len(self.running)
        return max((left * per_run + sum(remaining)) / max(self.jobs, 1), max(remaining, default=0.0))
