"""What `cnnlab train` does: validate, pre-flight every run, skip what is done (or resume what was
stopped), train the rest one after the other or in parallel, and stop cleanly on SIGINT or SIGTERM."""

from __future__ import annotations

import glob
import os
import shlex
import signal
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from cnnlab.data.resolve import check_available, check_training_split, dataset_info
from cnnlab.errors import CnnlabError, Interrupted, RemoteError, UsageError
from cnnlab.run import torchrun
from cnnlab.run.board import SweepBoard, shown_path
from cnnlab.run.ray_backend import RayOptions, require_ray
from cnnlab.run.saved import is_run_dir
from cnnlab.run.signals import STOP, handle_signals
from cnnlab.rundir.store import experiment_dir
from cnnlab.rundir.verdicts import at_chance
from cnnlab.shape.advice import distinct, layer_warnings
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan, check_batch_statistics
from cnnlab.shape.report import layer_table
from cnnlab.spec import Spec, expand_runs, load_spec
from cnnlab.spec.shard import Shard, parse_shard, select_shard
from cnnlab.train.threads import configure_threads
from cnnlab.util.table import Column, TextTable, print_table
from cnnlab.util.terminal import make_console
from cnnlab.util.text import key_labels, plural
from cnnlab.util.yamlio import dump_yaml


def preflight(runs: list[Spec]) -> list[str]:
    """Every run's layers fit its input, its batches can be normalized and its data split leaves
    training images: fails on the first impossible run, before any tensor. Returns the teaching
    warnings of their layers, each once."""
    found = []
    for run in runs:
        info = dataset_info(run.data)
        plan = build_plan(run.model, info)
        check_batch_statistics(plan, info, run.train.batch_size)
        check_training_split(run.data)
        found += layer_warnings(analyze(plan, info.shape))
    return distinct(found)


def print_warnings(warnings: list[str]) -> None:
    """`warning: ...` lines on stderr, so that piped output stays data."""
    console = make_console(stderr=True)
    for text in warnings:
        console.print(Text.assemble(("warning:", "yellow"), f" {text}"))


def check_runs_dir(runs_dir: Path) -> None:
    """The runs directory exists (or can be made) and accepts files."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=runs_dir):
            pass
    except OSError as err:
        raise CnnlabError(f"--runs-dir {runs_dir}: not writable ({err.strerror}); choose another directory") from None


def runs_table(spec: Spec, runs: list[Spec]) -> TextTable:
    """The runs of a sweep: number, swept values (as their labels read), seed."""
    columns = [Column("#", [str(i) for i in range(len(runs))], align="right")]
    for key, header in key_labels(spec.sweep).items():
        columns.append(Column(header, [run.labels[key].partition("=")[2] for run in runs]))
    columns.append(Column("seed", [str(run.seed) for run in runs], align="right"))
    return TextTable(columns, title=f"{len(runs)} runs")


def print_dry_run(console: Console, spec: Spec, runs: list[Spec]) -> None:
    first = runs[0]
    console.print(f"# resolved spec of {'the first of ' + str(len(runs)) + ' runs' if len(runs) > 1 else 'the run'}",
                  style="bold", highlight=False)
    console.print(dump_yaml(first.resolved()), highlight=False, markup=False, end="")
    if len(runs) > 1:
        print_table(runs_table(spec, runs), console)
        console.print()
    info = dataset_info(first.data)
    print_table(layer_table(analyze(build_plan(first.model, info), info.shape),
                            title=f"model for {info.channels}×{info.height}×{info.width} inputs, "
                                  f"{info.num_classes} classes"), console)


def print_outcome(console: Console, outcome) -> None:
    """A single run's result: a summary box, its verdict, and last its run directory in full; or,
    when it failed, was interrupted or skipped, one line."""
    s = outcome.summary
    if s is None:
        where = f"  (traceback in {shown_path(outcome.path / 'log.txt')})" \
            if outcome.status == "failed" and outcome.path else ""
        style = {"failed": "red", "interrupted": "yellow"}.get(outcome.status, "dim")
        console.print(Text.assemble((outcome.status, style), f": {outcome.error}{where}"))
        return
    table = Table(title=f"run {outcome.status}", title_justify="left", show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()

    def pct(value):
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
    console.print(table)
    print_warnings([verdict] if (verdict := at_chance(s)) else [])  # a divergence: the trainer said it, with its epoch
    console.print(f"run directory: {shown_path(outcome.path)}", soft_wrap=True, markup=False)


def command_line(spec_file: Path, overrides: list[str], runs_dir: Path, jobs: int, force: bool,
                 fail_fast: bool, resume: bool = False, extra: tuple[str, ...] = ()) -> list[str]:
    """The `cnnlab train` invocation that makes these runs, recorded in each run's meta.json."""
    line = ["cnnlab", "train", str(spec_file), *(a for item in overrides for a in ("--set", item))]
    line += ["--runs-dir", str(runs_dir)] if runs_dir != Path("runs") else []
    line += [f"--jobs={jobs}"] * (jobs > 1) + ["--force"] * force + ["--fail-fast"] * fail_fast
    return line + ["--resume"] * resume + list(extra)


def run_label(run: Spec) -> str:
    """`activation=relu seed=0`: the swept values of a run, as its id names them."""
    return " ".join([*run.labels.values(), f"seed={run.seed}"])


class Tally:
    """Counts of how runs ended, and the exit status they make."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0  # the runs the command stands for
        self.name = ""  # their experiment's

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


def run_single(console: Console, run: Spec, resume: Path | None, runs_dir: Path, force: bool, tally: Tally,
               command: list[str], world: Any = None) -> None:
    """One run, not a sweep: a progress bar per epoch, one line per epoch, then the summary box (under
    torchrun, `world`: on all processes; rank 0 shows it)."""
    from cnnlab.run.execute import execute_run  # torch is imported by the run, after its directory exists
    from cnnlab.train.progress import RichReporter

    outcome = execute_run(run, runs_dir, lambda store: RichReporter(console, store, run.train.epochs),
                          command=command, resume=resume, force=force, world=world)
    print_outcome(console, outcome)
    tally.add(outcome.status)


def run_sequentially(console: Console, todo: Todo, runs_dir: Path, fail_fast: bool, force: bool, tally: Tally,
                     command: list[str], world: Any = None) -> None:
    """The runs of a sweep one after the other, shown on a SweepBoard; under torchrun (`world`) each on
    all processes, which agree before each run whether to stop (cnnlab.run.torchrun)."""
    from cnnlab.run.execute import execute_run  # torch is imported by the run, after its directory exists
    from cnnlab.train.progress import EventReporter

    console.print(f"running {plural(len(todo), 'run')} one at a time into {shown_path(runs_dir / todo[0][0].name)}/ "
                  f"(each run's log.txt has its log)", markup=False)
    with SweepBoard(console, [run_label(run) for run, _ in todo]) as board:
        for i, (run, resume) in enumerate(todo):
            if world is not None and (signum := world.agree_stop(STOP.requested())) is not None:
                STOP.adopt(signum)
                return
            board.started(i)
            outcome = execute_run(run, runs_dir,
                                  lambda store, i=i: EventReporter(store, lambda e: board.progress(i, e)),
                                  command=command, resume=resume, force=force, world=world)
            board.finished(i, outcome.status, outcome.path, outcome.summary, outcome.error)
            tally.add(outcome.status)
            # Under torchrun a signal counts once agreed (before the next run), so that all stop together.
            stopped = outcome.status == "interrupted" if world is not None else STOP.requested() is not None
            if stopped or (fail_fast and outcome.status == "failed"):
                return


def run_in_parallel(console: Console, todo: Todo, runs_dir: Path, jobs: int, fail_fast: bool, force: bool,
                    tally: Tally, command: list[str]) -> None:
    """The runs of a sweep `jobs` at a time in worker processes, whose progress the board shows."""
    from cnnlab.run.parallel import plan_jobs, run_parallel

    runs = [run for run, _ in todo]
    resume = {i: path for i, (_, path) in enumerate(todo) if path is not None}
    planned = plan_jobs(runs, jobs, len(os.sched_getaffinity(0)), resume)
    console.print(f"running {plural(len(runs), 'run')}, {jobs} at a time, into {shown_path(runs_dir / runs[0].name)}/ "
                  f"(each run's log.txt has its log)", markup=False)
    with SweepBoard(console, [run_label(run) for run in runs], jobs) as board:
        run_parallel(planned, jobs, runs_dir, experiment_dir(runs_dir, runs[0].name), command, force,
                     finished_reporter(board, tally, fail_fast), on_started=board.started, on_progress=board.progress,
                     gpu_count=gpu_count())


GPU_DEVICE_FILES = ("/dev/nvidia[0-9]*", "/dev/dxg", "/dev/kfd")  # NVIDIA, WSL2's GPU, ROCm


def gpu_count() -> int:
    """The GPUs the parallel workers share out (one each). On Linux a machine without any GPU device
    file has none: the parent then does not import torch (seconds) only to count them."""
    if sys.platform.startswith("linux") and not any(glob.glob(pattern) for pattern in GPU_DEVICE_FILES):
        return 0
    import torch

    return torch.cuda.device_count()


def run_on_ray(console: Console, todo: Todo, runs_dir: Path, options: RayOptions, fail_fast: bool, force: bool,
               tally: Tally, command: list[str]) -> None:
    """The runs of a sweep as Ray tasks (cnnlab.run.ray_backend), shown on the board as with --jobs."""
    from cnnlab.run import ray_backend

    runs = [run for run, _ in todo]
    with SweepBoard(console, [run_label(run) for run in runs]) as board:
        ray_backend.run_on_ray(console, todo, runs_dir, options, force, command, board,
                               finished_reporter(board, tally, fail_fast))


def finished_reporter(board: SweepBoard, tally: Tally, fail_fast: bool) -> Callable[[Any], bool]:
    """What a backend that runs many at once (--jobs, Ray) calls as each run ends, with its
    cnnlab.run.parallel.Finished: count it, print its line; True asks to stop the others (fail-fast)."""

    def report(done) -> bool:
        tally.add(done.status)
        board.finished(done.index, done.status, done.path, done.summary, done.error)
        return fail_fast and done.status == "failed"

    return report


def launch(spec_file: Path | None, overrides: list[str], runs_dir: Path, dry_run: bool, jobs: int, force: bool,
           fail_fast: bool, resume: bool = False, shard: str | None = None, ray: RayOptions | None = None) -> int:
    """Run `cnnlab train`; returns the exit status (0 all completed, 1 a run failed or diverged,
    128 + the signal number when SIGINT or SIGTERM stopped it). Under torchrun only rank 0 prints.
    `shard` ("I/N") trains one shard of the sweep (cnnlab.spec.shard); `ray` runs it on a Ray cluster
    (cnnlab.run.ray_backend)."""
    configure_threads()  # before torch loads, here and in the workers it starts
    console = make_console()
    console.quiet = torchrun.rank() != 0
    with handle_signals():
        tally = Tally()
        try:
            _launch(console, tally, spec_file, overrides, runs_dir, dry_run, jobs, force, fail_fast, resume,
                    parse_shard(shard) if shard is not None else None, ray)
        except Interrupted as stop:  # outside any run (each run records its own interruption)
            console.print(f"interrupted by {signal.Signals(stop.signum).name}")
        except RemoteError:  # rank 0's mistake, which rank 0 prints
            return 2
        if tally.total > 1:  # a single run's last line is its directory, or why it has none
            not_run = tally.total - sum(tally.counts.values())
            unstarted = f", {not_run} not started" if not_run > 0 else ""
            folder = shown_path(Path(runs_dir) / tally.name)
            console.print(f"{plural(tally.total, 'run')}: {tally.line() or 'none ran'}{unstarted} · in {folder} "
                          f"(cnnlab ls {folder}, cnnlab compare {folder})", markup=False)
        return tally.exit_code


def _launch(console: Console, tally: Tally, spec_file: Path | None, overrides: list[str], runs_dir: Path,
            dry_run: bool, jobs: int, force: bool, fail_fast: bool, resume: bool, shard: Shard | None,
            ray: RayOptions | None) -> None:
    """The work of `launch`, counted in `tally`."""
    if spec_file is None:
        raise UsageError("missing EXP.yaml (or, with --resume, a run directory)")
    if ray is not None:
        if jobs > 1:
            raise UsageError("--jobs does not apply with --backend ray: Ray runs as many at once as the cluster "
                             "holds (--cpus-per-run, --gpus-per-run each)")
        if torchrun.size() > 1:
            raise UsageError("--backend ray does not apply under torchrun, which trains one run on all its processes")
        if not dry_run:
            require_ray()
    backend = tuple(ray.args()) if ray is not None else ()
    command = command_line(spec_file, overrides, runs_dir, jobs, force, fail_fast, resume,
                           backend + (("--shard", str(shard)) if shard else ()))
    whole = command_line(spec_file, overrides, runs_dir, jobs, force, fail_fast, resume, backend)  # sweep.yaml's
    if torchrun.size() > 1 and not dry_run:
        if jobs > 1:
            raise UsageError("--jobs: under torchrun every run is trained by all the processes together, one run "
                             "after the other; leave --jobs out")
        torchrun.run_across_processes(console, tally, lambda: _decide(
            console, tally, spec_file, overrides, runs_dir, False, force, resume, shard, whole), force, command)
        return
    decided = _decide(console, tally, spec_file, overrides, runs_dir, dry_run, force, resume, shard, whole)
    if decided is None:
        return
    spec, todo, runs_dir = decided
    if todo:
        if ray is None and spec.train.device not in ("auto", "cpu"):  # a device that may not exist: say so now
            from cnnlab.train.device import resolve_device  # (on Ray, the workers' devices count)

            resolve_device(spec.train.device)
        if ray is not None:
            run_on_ray(console, todo, runs_dir, ray, fail_fast, force, tally, command)
        elif jobs > 1 and len(todo) > 1:
            run_in_parallel(console, todo, runs_dir, min(jobs, len(todo)), fail_fast, force, tally, command)
        else:
            run_in_turn(console, todo, runs_dir, fail_fast, force, tally, command)


def run_in_turn(console: Console, todo: Todo, runs_dir: Path, fail_fast: bool, force: bool, tally: Tally,
                command: list[str], world: Any = None) -> None:
    """A single run with its progress bar, or a sweep's runs one after the other on a board."""
    if tally.total == 1:
        run_single(console, *todo[0], runs_dir, force, tally, command, world)
    else:
        run_sequentially(console, todo, runs_dir, fail_fast, force, tally, command, world)


def _decide(console: Console, tally: Tally, spec_file: Path, overrides: list[str], runs_dir: Path, dry_run: bool,
            force: bool, resume: bool, shard: Shard | None, command: list[str]) -> tuple[Spec, Todo, Path] | None:
    """Which runs to train, and where (None after a dry run, or for a shard without runs): the spec,
    each run with the directory it resumes, the runs directory. `command` (without --shard: every
    shard records the same) goes into sweep.yaml."""
    if is_run_dir(spec_file) or (resume and spec_file.is_dir()):
        if not resume:
            raise UsageError(f"{spec_file} is a run directory; to continue it: cnnlab train --resume {spec_file}")
        if dry_run or force or shard:
            used = "dry-run" if dry_run else "force" if force else "shard"
            raise UsageError(f"--{used} does not apply to resuming a run directory")
        from cnnlab.run.resume import resume_spec

        spec = resume_spec(spec_file, overrides)
        runs, todo = [spec], [(spec, spec_file.resolve())]
        tally.total = 1
        print_warnings(preflight(runs))
        check_available(spec.data)
        return spec, todo, spec_file.resolve().parent.parent  # runs/<name>/<run-id>: where its claim is taken
    spec = load_spec(spec_file, overrides)
    runs = expand_runs(spec)
    print_warnings(preflight(runs))
    if shard is not None:
        whole, runs = len(runs), select_shard(runs, shard)
        console.print(f"shard {shard}: {len(runs)} of the sweep's {plural(whole, 'run')}", markup=False)
        if not runs:
            return None
    if dry_run:
        print_dry_run(console, spec, runs)
        return None
    tally.total, tally.name = len(runs), spec.name
    return spec, _plan(console, tally, spec, runs, runs_dir, force, resume, command), runs_dir


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
        console.print(f"skipped  {run_label(run)}: already completed in {shown_path(path)}", markup=False)
    if spec.sweep or spec.seeds or spec.claims or spec.description:
        write_sweep_record(spec, runs_dir, shlex.join(command))
    targets = resumable(todo, runs_dir) if resume else {}
    for i, path in targets.items():
        console.print(f"resuming {run_label(todo[i])}: {shown_path(path)}", markup=False)
    return [(run, targets.get(i)) for i, run in enumerate(todo)]
