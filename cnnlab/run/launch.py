"""What `cnnlab train` does: validate, pre-flight every run, skip what is done, train the rest."""

from __future__ import annotations

import os
import shlex
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cnnlab.data.resolve import check_available, dataset_info
from cnnlab.errors import CnnlabError
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan
from cnnlab.shape.report import layer_table
from cnnlab.spec import Spec, expand_runs, load_spec
from cnnlab.util.text import plural
from cnnlab.util.yamlio import dump_yaml


def preflight(runs: list[Spec]) -> None:
    """Every run's layers fit its input: fails on the first impossible one, before any tensor."""
    for run in runs:
        build_plan(run.model, dataset_info(run.data))


def check_runs_dir(runs_dir: Path) -> None:
    """The runs directory exists (or can be made) and accepts files."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir):
            pass
    except OSError as err:
        raise CnnlabError(f"--runs-dir {runs_dir}: not writable ({err.strerror}); choose another directory") from None


def print_dry_run(console: Console, spec: Spec, runs: list[Spec]) -> None:
    first = runs[0]
    console.print(f"# resolved spec of {'the first of ' + str(len(runs)) + ' runs' if len(runs) > 1 else 'the run'}",
                  style="bold", highlight=False)
    console.print(dump_yaml(first.resolved()), highlight=False, markup=False, end="")
    if len(runs) > 1:
        table = Table(title=f"{len(runs)} runs", title_justify="left")
        table.add_column("#", justify="right")
        for key in [*spec.sweep, "seed"]:
            table.add_column(key)
        for i, run in enumerate(runs):
            table.add_row(str(i), *[str(v) for v in run.swept.values()], str(run.seed))
        console.print(table)
    info = dataset_info(first.data)
    console.print(layer_table(analyze(build_plan(first.model, info), info.shape), width=console.width,
                              title=f"model for {info.channels}×{info.height}×{info.width} inputs, "
                                    f"{info.num_classes} classes"))


def print_outcome(console: Console, outcome) -> None:
    s = outcome.summary
    if outcome.status == "failed":
        console.print(f"[red]failed[/red]: {outcome.error}  (traceback in {outcome.path / 'log.txt'})")
        return
    table = Table(title=f"run {outcome.status}", title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()

    def pct(value):
        return "—" if value is None else f"{value:.2%}"

    table.add_row("best val acc", f"{pct(s.best_val_acc)} (epoch {s.best_epoch})")
    table.add_row("final val acc", pct(s.final_val_acc))
    table.add_row("test acc (best checkpoint)", pct(s.test_acc))
    table.add_row("final train loss", "—" if s.final_train_loss is None else f"{s.final_train_loss:.4f}")
    table.add_row("epochs", f"{s.epochs_run}" + (" (stopped early)" if s.stopped_early else ""))
    table.add_row("params / MACs", f"{s.params:,} / {s.macs:,}")
    table.add_row("train time", f"{s.train_seconds:.1f} s, {s.images_per_second or 0:,.0f} images/s "
                                f"on {s.device}")
    table.add_row("run directory", str(outcome.path))
    console.print(table)


def command_line(spec_file: Path, overrides: list[str], runs_dir: Path, jobs: int, force: bool,
                 fail_fast: bool) -> list[str]:
    """The `cnnlab train` invocation that makes these runs, recorded in each run's meta.json."""
    line = ["cnnlab", "train", str(spec_file), *(a for item in overrides for a in ("--set", item))]
    line += ["--runs-dir", str(runs_dir)] if runs_dir != Path("runs") else []
    line += [f"--jobs={jobs}"] * (jobs > 1) + ["--force"] * force + ["--fail-fast"] * fail_fast
    return line


def run_label(run: Spec) -> str:
    return " ".join([*(f"{k}={v}" for k, v in run.swept.items()), f"seed={run.seed}"])


class Tally:
    """Counts of how runs ended, and the exit status they make."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()

    def add(self, status: str) -> None:
        self.counts[status] += 1

    def line(self) -> str:
        order = ("completed", "skipped", "diverged", "failed", "interrupted")
        return ", ".join(f"{self.counts[k]} {k}" for k in order if self.counts.get(k))

    @property
    def exit_code(self) -> int:
        if self.counts.get("interrupted"):
            return 130
        return 1 if self.counts.get("failed") or self.counts.get("diverged") else 0


def run_sequentially(console: Console, runs: list[Spec], runs_dir: Path, fail_fast: bool, tally: Tally,
                     command: list[str]) -> None:
    from cnnlab.run.execute import execute_run  # imports torch: only now that there is training to do
    from cnnlab.train.progress import RichReporter

    for i, run in enumerate(runs, 1):
        if len(runs) > 1:
            console.rule(f"run {i}/{len(runs)}: {run_label(run)}")
        try:
            outcome = execute_run(run, runs_dir, lambda store, run=run: RichReporter(console, store, run.train.epochs),
                                  command=command)
        except KeyboardInterrupt:
            tally.add("interrupted")
            return
        print_outcome(console, outcome)
        tally.add(outcome.status)
        if fail_fast and outcome.status == "failed":
            return


def run_in_parallel(console: Console, runs: list[Spec], runs_dir: Path, jobs: int, fail_fast: bool,
                    tally: Tally, command: list[str]) -> None:
    import torch  # only to count GPUs; the workers import it anyway

    from cnnlab.run.parallel import plan_jobs, run_parallel

    planned = plan_jobs(runs, jobs, len(os.sched_getaffinity(0)), torch.cuda.device_count())
    console.print(f"running {len(runs)} runs, {jobs} at a time (run logs: each run's log.txt)")
    try:
        for done in run_parallel(planned, jobs, runs_dir, command, lambda f: fail_fast and f.status == "failed"):
            tally.add(done.status)
            label = run_label(runs[done.index])
            if done.status in ("completed", "diverged"):
                test = done.summary.test_acc if done.summary else None
                shown = "—" if test is None else f"{test:.2%}"
                console.print(f"{done.status:>11}  {label}  test acc {shown}  → {done.path}")
            else:
                where = f"  (traceback in {done.path / 'log.txt'})" if done.path else ""
                console.print(f"[red]{done.status:>11}[/red]  {label}: {done.error}{where}")
    except KeyboardInterrupt:
        tally.add("interrupted")


def launch(spec_file: Path, overrides: list[str], runs_dir: Path, dry_run: bool, jobs: int, force: bool,
           fail_fast: bool) -> int:
    """Run `cnnlab train`; returns the exit status (0 all completed, 1 a run failed or diverged,
    130 interrupted)."""
    console = Console(highlight=False, soft_wrap=True)
    spec = load_spec(spec_file, overrides)
    runs = expand_runs(spec)
    preflight(runs)
    if dry_run:
        print_dry_run(console, spec, runs)
        return 0
    check_runs_dir(runs_dir)
    for data in {run.data.model_dump_json(): run.data for run in runs}.values():
        check_available(data)  # absent files with download off: one line now, not a failed run later

    from cnnlab.run.skip import split_done, write_sweep_record

    todo, skipped = split_done(runs, runs_dir, force)
    tally = Tally()
    for run, path in skipped:
        tally.add("skipped")
        console.print(f"skipped  {run_label(run)}: already completed in {path}")
    command = command_line(spec_file, overrides, runs_dir, jobs, force, fail_fast)
    if spec.sweep or spec.seeds or spec.claims or spec.description:
        write_sweep_record(spec, runs_dir, shlex.join(command))
    if todo:
        from cnnlab.train.device import resolve_device

        resolve_device(spec.train.device)
        if jobs > 1 and len(todo) > 1:
            run_in_parallel(console, todo, runs_dir, min(jobs, len(todo)), fail_fast, tally, command)
        else:
            run_sequentially(console, todo, runs_dir, fail_fast, tally, command)
    if len(runs) > 1 or tally.exit_code:
        not_run = len(runs) - sum(tally.counts.values())
        unstarted = f", {not_run} not started" if not_run > 0 else ""
        console.print(f"{plural(len(runs), 'run')}: {tally.line()}{unstarted}")
    if tally.exit_code:
        return tally.exit_code
    return 0
