"""What `cnnlab train` does: validate, pre-flight every run, skip what is done (or resume what was
stopped), train the rest one after the other or in parallel, and stop cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import os
import shlex
import signal
import tempfile
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cnnlab.data.resolve import check_available, check_training_split, dataset_info
from cnnlab.errors import CnnlabError, Interrupted, UsageError
from cnnlab.run.saved import is_run_dir
from cnnlab.run.signals import STOP, handle_signals
from cnnlab.rundir.store import experiment_dir
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan, check_batch_statistics
from cnnlab.shape.report import layer_table
from cnnlab.spec import Spec, expand_runs, load_spec
from cnnlab.util.text import plural
from cnnlab.util.yamlio import dump_yaml


def preflight(runs: list[Spec]) -> None:
    """Every run's layers fit its input, its batches can be normalized and its data split leaves
    training images: fails on the first impossible run, before any tensor."""
    for run in runs:
        info = dataset_info(run.data)
        check_batch_statistics(build_plan(run.model, info), info, run.train.batch_size)
        check_training_split(run.data)


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
    if s is None:  # failed, interrupted or skipped: one line
        where = f"  (traceback in {outcome.path / 'log.txt'})" if outcome.status == "failed" and outcome.path else ""
        style = {"failed": "red", "interrupted": "yellow"}.get(outcome.status, "dim")
        console.print(f"[{style}]{outcome.status}[/{style}]: {outcome.error}{where}")
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
                 fail_fast: bool, resume: bool = False) -> list[str]:
    """The `cnnlab train` invocation that makes these runs, recorded in each run's meta.json."""
    line = ["cnnlab", "train", str(spec_file), *(a for item in overrides for a in ("--set", item))]
    line += ["--runs-dir", str(runs_dir)] if runs_dir != Path("runs") else []
    line += [f"--jobs={jobs}"] * (jobs > 1) + ["--force"] * force + ["--fail-fast"] * fail_fast
    return line + ["--resume"] * resume


def run_label(run: Spec) -> str:
    return " ".join([*(f"{k}={v}" for k, v in run.swept.items()), f"seed={run.seed}"])


class Tally:
    """Counts of how runs ended, and the exit status they make."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0  # the runs the command stands for

    def add(self, status: str) -> None:
        if status != "not started":
            self.counts[status] += 1

    def line(self) -> str:
        order = ("completed", "skipped", "diverged", "failed", "interrupted")
        return ", ".join(f"{self.counts[k]} {k}" for k in order if self.counts.get(k))

    @property
    def exit_code(self) -> int:
        """128 + the signal that stopped cnnlab (130 SIGINT, 143 SIGTERM); 1 when a run failed or
        diverged; else 0."""
        if STOP.requested() is not None:
            return 128 + STOP.requested()
        return 1 if self.counts.get("failed") or self.counts.get("diverged") else 0


Todo = list[tuple[Spec, Path | None]]  # each run to train, with the run directory it resumes (if any)


def run_sequentially(console: Console, todo: Todo, runs_dir: Path, fail_fast: bool, force: bool, tally: Tally,
                     command: list[str]) -> None:
    from cnnlab.run.execute import execute_run  # torch is imported by the run, after its directory exists
    from cnnlab.train.progress import RichReporter

    for i, (run, resume) in enumerate(todo, 1):
        if len(todo) > 1:
            console.rule(f"run {i}/{len(todo)}: {run_label(run)}")
        outcome = execute_run(run, runs_dir, lambda store, run=run: RichReporter(console, store, run.train.epochs),
                              command=command, resume=resume, force=force)
        print_outcome(console, outcome)
        tally.add(outcome.status)
        if STOP.requested() is not None or (fail_fast and outcome.status == "failed"):
            return


def run_in_parallel(console: Console, todo: Todo, runs_dir: Path, jobs: int, fail_fast: bool, force: bool,
                    tally: Tally, command: list[str]) -> None:
    import torch  # only to count GPUs; the workers import it anyway

    from cnnlab.run.parallel import Finished, plan_jobs, run_parallel

    runs = [run for run, _ in todo]
    resume = {i: path for i, (_, path) in enumerate(todo) if path is not None}
    planned = plan_jobs(runs, jobs, len(os.sched_getaffinity(0)), torch.cuda.device_count(), resume)
    console.print(f"running {len(runs)} runs, {jobs} at a time (run logs: each run's log.txt)")

    def report(done: Finished) -> bool:
        tally.add(done.status)
        label = run_label(runs[done.index])
        if done.status in ("completed", "diverged"):
            test = done.summary.test_acc if done.summary else None
            shown = "—" if test is None else f"{test:.2%}"
            console.print(f"{done.status:>11}  {label}  test acc {shown}  → {done.path}")
        else:
            where = f"  (traceback in {done.path / 'log.txt'})" if done.status == "failed" and done.path else ""
            style = "red" if done.status == "failed" else "yellow"
            console.print(f"[{style}]{done.status:>11}[/{style}]  {label}: {done.error}{where}")
        return fail_fast and done.status == "failed"

    run_parallel(planned, jobs, runs_dir, experiment_dir(runs_dir, runs[0].name), command, force, report)


def launch(spec_file: Path | None, overrides: list[str], runs_dir: Path, dry_run: bool, jobs: int, force: bool,
           fail_fast: bool, resume: bool = False) -> int:
    """Run `cnnlab train`; returns the exit status (0 all completed, 1 a run failed or diverged,
    128 + the signal number when SIGINT or SIGTERM stopped it)."""
    console = Console(highlight=False, soft_wrap=True)
    with handle_signals():
        tally = Tally()
        try:
            _launch(console, tally, spec_file, overrides, runs_dir, dry_run, jobs, force, fail_fast, resume)
        except Interrupted as stop:  # outside any run (each run records its own interruption)
            console.print(f"interrupted by {signal.Signals(stop.signum).name}")
        if tally.total > 1 or tally.exit_code:
            not_run = tally.total - sum(tally.counts.values())
            unstarted = f", {not_run} not started" if not_run > 0 else ""
            console.print(f"{plural(tally.total, 'run')}: {tally.line() or 'none ran'}{unstarted}")
        return tally.exit_code


def _launch(console: Console, tally: Tally, spec_file: Path | None, overrides: list[str], runs_dir: Path,
            dry_run: bool, jobs: int, force: bool, fail_fast: bool, resume: bool) -> None:
    """The work of `launch`, counted in `tally`."""
    if spec_file is None:
        raise UsageError("missing EXP.yaml (or, with --resume, a run directory)")
    command = command_line(spec_file, overrides, runs_dir, jobs, force, fail_fast, resume)
    if is_run_dir(spec_file) or (resume and spec_file.is_dir()):
        if not resume:
            raise UsageError(f"{spec_file} is a run directory; to continue it: cnnlab train --resume {spec_file}")
        if dry_run or force:
            raise UsageError(f"--{'dry-run' if dry_run else 'force'} does not apply to resuming a run directory")
        from cnnlab.run.resume import resume_spec

        spec = resume_spec(spec_file, overrides)
        runs, todo = [spec], [(spec, spec_file.resolve())]
        runs_dir = spec_file.resolve().parent.parent  # runs/<name>/<run-id>: where its claim is taken
        tally.total = 1
        preflight(runs)
        check_available(spec.data)
    else:
        spec = load_spec(spec_file, overrides)
        runs = expand_runs(spec)
        preflight(runs)
        if dry_run:
            print_dry_run(console, spec, runs)
            return
        tally.total = len(runs)
        todo = _plan(console, tally, spec, runs, runs_dir, force, resume, command)
    if todo:
        if spec.train.device not in ("auto", "cpu"):  # a device that may not exist: say so before any run
            from cnnlab.train.device import resolve_device

            resolve_device(spec.train.device)
        if jobs > 1 and len(todo) > 1:
            run_in_parallel(console, todo, runs_dir, min(jobs, len(todo)), fail_fast, force, tally, command)
        else:
            run_sequentially(console, todo, runs_dir, fail_fast, force, tally, command)


def _plan(console: Console, tally: Tally, spec: Spec, runs: list[Spec], runs_dir: Path, force: bool,
          resume: bool, command: list[str]) -> Todo:
    """Check where the runs go, skip the completed ones, pair the others with a run to resume."""
    check_runs_dir(runs_dir)
    experiment_dir(runs_dir, spec.name)  # runs/<name> must not lead out of the runs directory
    for data in {run.data.model_dump_json(): run.data for run in runs}.values():
        check_available(data)  # absent files with download off: one line now, not a failed run later

    from cnnlab.run.skip import resumable, split_done, write_sweep_record

    todo, skipped = split_done(runs, runs_dir, force)
    for run, path in skipped:
        tally.add("skipped")
        console.print(f"skipped  {run_label(run)}: already completed in {path}")
    if spec.sweep or spec.seeds or spec.claims or spec.description:
        write_sweep_record(spec, runs_dir, shlex.join(command))
    targets = resumable(todo, runs_dir) if resume else {}
    for i, path in targets.items():
        console.print(f"resuming {run_label(todo[i])}: {path}")
    return [(run, targets.get(i)) for i, run in enumerate(todo)]
