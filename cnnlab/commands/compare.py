"""`cnnlab compare`: runs side by side as a table, csv, json or markdown, and learning curves.

Reads files only: never imports torch (nor matplotlib unless --plot is given)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

DEFAULT_RUNS = Path("runs")  # where `cnnlab train` writes, relative to the working directory


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def compare(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Run directories, sweep directories or runs roots (searched recursively). Default: runs",
            show_default=False,
        ),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            "-w",
            help="Keep runs where KEY=VALUE, KEY!=VALUE on a spec key or status, or METRIC>X "
            "(also >=, <, <=; accuracy 0.9 or 90). Repeat to combine.",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option("--sort", "-s", help="Metric or spec key to sort by. Default: test_acc or best_val_acc"),
    ] = None,
    ascending: Annotated[bool, typer.Option("--asc", help="Sort ascending (default: descending).")] = False,
    top: Annotated[int | None, typer.Option("--top", "-n", min=1, help="Show only the first N rows.")] = None,
    metrics: Annotated[
        str | None,
        typer.Option(
            "--metrics",
            "-m",
            help="Comma-separated columns: best_val_acc, final_val_acc, test_acc, final_train_loss, epochs, "
            "params, macs, train_seconds, images_per_second, final_train_acc, best_val_loss, test_loss, "
            "best_epoch, status, curve.",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv, json or markdown.")] = "table",
    aggregate: Annotated[
        bool | None,
        typer.Option(
            "--aggregate/--no-aggregate",
            " /--per-run",
            help="One row per configuration (seeds as mean ± std, n) or per run. Default: aggregate "
            "when some configuration has several runs.",
            show_default=False,
        ),
    ] = None,
    all_params: Annotated[
        bool, typer.Option("--all-params", help="Show every spec key, not only those that differ.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also draw learning curves (val acc, train loss) into this .png/.svg."),
    ] = None,
) -> None:
    """Put runs side by side: the spec keys that differ, then accuracy, loss, size, speed and status.

    Runs that differ only in their seed become one row: mean ± std (sample std) over seeds, and n.

    Examples:
      cnnlab compare runs/activations
      cnnlab compare runs -w model.activation!=sigmoid -w "test_acc>90" --sort best_val_acc --top 5
      cnnlab compare runs/activations --format csv > activations.csv
      cnnlab compare runs/activations --plot curves.png
    """
    from cnnlab import compare_render  # the work, and its imports, only when the command runs
    from cnnlab.compare import CompareError, build_comparison, load_runs, parse_columns

    render = compare_render.renderer(fmt)
    if plot is not None:
        from cnnlab import compare_plot  # matplotlib only when a plot is asked for

        compare_plot.check_plot_path(plot)
    if not paths and not DEFAULT_RUNS.is_dir():
        raise CompareError(f"no {DEFAULT_RUNS}/ here; name run, sweep or runs directories: cnnlab compare PATH...")
    runs = load_runs(paths or [DEFAULT_RUNS], warn=_warn)
    comparison = build_comparison(
        runs,
        where=where or (),
        sort=sort,
        ascending=ascending,
        top=top,
        columns=parse_columns(metrics),
        aggregate=aggregate,
        all_params=all_params,
    )
    render(comparison, sys.stdout)
    if plot is not None:
        compare_plot.plot_curves(comparison, plot)
        typer.echo(f"wrote {plot}", err=True)
