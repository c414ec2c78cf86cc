"""What `cnnlab train` prints around its runs: the plan's notes before they start (warnings, the
shard, the runs skipped or resumed), the reporter the scheduler tells of each run (the sweep's board,
or for a single run its progress bar, epoch lines and summary box), and the final tally."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cnnlab.run.board import SweepBoard, shown_path
from cnnlab.run.ledger import Tally
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import Plan
from cnnlab.rundir.verdicts import at_chance
from cnnlab.train.progress import RichReporter
from cnnlab.util.terminal import make_console
from cnnlab.util.text import plural


def print_warnings(warnings: list[str] | tuple[str, ...]) -> None:
    """`warning: ...` lines on stderr, so that piped output stays data."""
    console = make_console(stderr=True)
    for text in warnings:
        console.print(Text.assemble(("warning:", "yellow"), f" {text}"))


def print_plan(console: Console, plan: Plan, what_happens: bool = True) -> None:
    """Before the runs: the warnings their layers call for, which shard this is, and (`what_happens`)
    the runs skipped and the runs resumed."""
    print_warnings(plan.warnings)
    if plan.shard is not None:
        console.print(f"shard {plan.shard}: {plan.total} of the sweep's {plural(plan.sweep_size, 'run')}",
                      markup=False)
    if not what_happens:
        return
    for run in plan.skipped:
        console.print(f"skipped  {run.label}: already completed in {shown_path(run.completed)}", markup=False)
    for run in plan.todo:
        if run.resume is not None and plan.experiment is not None:  # a run directory given: its trainer says it
            console.print(f"resuming {run.label}: {shown_path(run.resume)}", markup=False)


def print_tally(console: Console, plan: Plan, tally: Tally, rounds: int = 1, claims: str | None = None) -> None:
    """The last line of a sweep (a single run's last line is its run directory, or why it has none);
    under --until-decided with its rounds and where the claims stand."""
    if tally.total > 1 or rounds > 1:
        folder = shown_path(plan.folder)
        lead = f"{plural(rounds, 'round')}, " if rounds > 1 or claims is not None else ""
        standing = f" · claims: {claims}" if claims is not None else ""
        console.print(f"{lead}{plural(tally.total, 'run')}: {tally.line()}{standing} · in {folder} (cnnlab ls "
                      f"{folder}, cnnlab compare {folder})", markup=False)


def make_reporter(console: Console, plan: Plan, in_process: bool, round_label: str | None = None):
    """The board for a sweep (its live line led by `round_label`: `round 2`), or for a single run
    trained in this process its own display."""
    if plan.total == 1 and in_process:
        return SingleRun(console)
    return SweepBoard(console, [run.label for run in plan.todo], round_label=round_label)


class SingleRun:
    """One run, not a sweep: a progress bar per epoch and one line per epoch while it trains, then
    the summary box, its verdict, and last its run directory in full."""

    def __init__(self, console: Console) -> None:
        self.console = console

    @contextlib.contextmanager
    def begin(self, description: str, jobs: int) -> Iterator[None]:
        yield

    def for_run(self, index: int, epochs: int):
        return lambda store: RichReporter(self.console, store, epochs)

    def started(self, index: int) -> None:
        pass

    def progress(self, index: int, event: object) -> None:
        pass

    def finished(self, index: int, outcome: Outcome) -> None:
        print_outcome(self.console, outcome)


def print_outcome(console: Console, outcome: Outcome) -> None:
    """A single run's result: a summary box, its verdict, and last its run directory in full; or,
    when it failed, was interrupted or skipped, one line."""
    s = outcome.summary
    if s is None:
        where = f"  (traceback in {shown_path(outcome.path / 'log.txt')})" \
            if outcome.status == "failed" and outcome.path else ""
        style = {"failed": "red", "interrupted": "yellow"}.get(outcome.status, "dim")
        console.print(Text.assemble((outcome.status, style), f": {outcome.error}{where}"))
        return
    table = Table(show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()

    def pct(value: float | None) -> str:
        return "—" if value is None else f"{value:.2%}"

    table.add_row("best val acc", f"{pct(s.best_val_acc)} (epoch {s.best_epoch})")
    table.add_row("final val acc", pct(s.final_val_acc))
    table.add_row("test acc (best checkpoint)", pct(s.test_acc))
    table.add_row("final train loss", "—" if s.final_train_loss is None else f"{s.final_train_loss:.4f}")
    table.add_row("epochs", f"{s.epochs_run}" + (" (stopped early)" if s.stopped_early else ""))
    table.add_row("params / MACs", f"{s.params:,} / {s.macs:,}")
    compiling = f" (+ {s.compile_seconds:.1f} s compiling)" if s.compile_seconds is not None else ""
    table.add_row("train time", f"{s.train_seconds:.1f} s, {s.images_per_second or 0:,.0f} images/s "
                                f"on {s.device}{compiling}")
    console.print(Text(f"run {outcome.status}", style="table.title"))  # a title of its own: no padding after it
    console.print(table)
    print_warnings([verdict] if (verdict := at_chance(s)) else [])  # a divergence: the trainer said it, with its epoch
    console.print(f"run directory: {shown_path(outcome.path)}", soft_wrap=True, markup=False)
