"""`cnnlab train EXP.yaml`: validate, pre-flight every run, then train them into run directories."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from cnnlab.data.registry import dataset_info
from cnnlab.errors import CnnlabError
from cnnlab.models.plan import build_plan
from cnnlab.shape_report import layer_table
from cnnlab.shapes import analyze
from cnnlab.spec import Spec, expand_runs, load_spec
from cnnlab.yamlio import dump_yaml


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
    console.print(layer_table(analyze(build_plan(first.model, info), info.shape),
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

    table.add_row("best val acc", f"{pct(s['best_val_acc'])} (epoch {s['best_epoch']})")
    table.add_row("final val acc", pct(s["final_val_acc"]))
    table.add_row("test acc (best checkpoint)", pct(s["test_acc"]))
    table.add_row("final train loss", "—" if s["final_train_loss"] is None else f"{s['final_train_loss']:.4f}")
    table.add_row("epochs", f"{s['epochs_run']}" + (" (stopped early)" if s["stopped_early"] else ""))
    table.add_row("params / MACs", f"{s['params']:,} / {s['macs']:,}")
    table.add_row("train time", f"{s['train_seconds']:.1f} s, {s['images_per_second'] or 0:,.0f} images/s "
                                f"on {s['device']}")
    table.add_row("run directory", str(outcome.path))
    console.print(table)


def train(
    spec_file: Path = typer.Argument(..., metavar="EXP.yaml", help="The experiment spec (YAML)."),
    overrides: list[str] = typer.Option([], "--set", "-s", metavar="KEY=VALUE",
                                        help="Override a spec key, e.g. --set model.activation=tanh (repeatable)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run directories are written."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved spec and the model's layers; "
                                                           "train nothing."),
) -> None:
    """Train the model of a spec; write metrics and checkpoints to runs/<name>/<run-id>/.

    Example: cnnlab train experiments/quickstart.yaml --set model.activation=tanh --set train.epochs=3
    """
    console = Console(highlight=False)
    spec = load_spec(spec_file, overrides)
    runs = expand_runs(spec)
    preflight(runs)
    if dry_run:
        print_dry_run(console, spec, runs)
        return
    check_runs_dir(runs_dir)

    from cnnlab.execute import execute_run  # imports torch: only now that there is training to do
    from cnnlab.progress import RichReporter
    from cnnlab.train import resolve_device

    resolve_device(spec.train.device)
    failed = 0
    for i, run in enumerate(runs, 1):
        if len(runs) > 1:
            shown = ", ".join(f"{k}={v}" for k, v in run.swept.items())
            console.rule(f"run {i}/{len(runs)}: {shown} seed={run.seed}")
        outcome = execute_run(run, runs_dir, lambda store, run=run: RichReporter(console, store, run.train.epochs),
                              command=["cnnlab", *sys.argv[1:]] if sys.argv else None)
        print_outcome(console, outcome)
        failed += outcome.status != "completed"
    if failed:
        raise typer.Exit(1)

