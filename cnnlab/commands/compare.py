"""`cnnlab compare`: runs side by side as a table, csv, json or markdown, and learning curves.

Reads files only: never imports torch (nor matplotlib unless --plot is given)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab.commands import warn
from cnnlab.compare.bands import BANDS, DEFAULT_BAND
from cnnlab.compare.metrics import CURVE_FORMS, EXTRA_COLUMNS, METRICS

BandName = Enum("BandName", {name: name for name in BANDS}, type=str)

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab compare runs/activations",
    'cnnlab compare runs -w model.activation!=sigmoid -w "test_acc>90" --sort best_val_acc --top 5',
    "cnnlab compare runs/activations --format csv > activations.csv",
    "cnnlab compare runs/activations --plot curves.png --band ci95",
])


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
            help=f"Comma-separated columns: {', '.join([*METRICS, *EXTRA_COLUMNS])}; or a figure of the "
                 f"learning curve: {CURVE_FORMS} (a run that never reaches X counts as its epochs + 1).",
        ),
    ] = None,
    fmt: Annotated[Literal["table", "csv", "json", "markdown"], typer.Option(
        "--format", "-f", help="How to print the comparison.")] = "table",
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
    band: Annotated[
        BandName | None,
        typer.Option("--band", show_default=False,
                     help=f"With --plot, the band around each configuration's mean across seeds: "
                          f"{'; '.join(f'{name}: {kind.label}' for name, kind in BANDS.items())}. "
                          f"Default: {DEFAULT_BAND}."),
    ] = None,
) -> None:
    """Put runs side by side: the spec keys that differ, then accuracy, loss, size, speed and status.

    Runs that differ only in their seed become one row: mean ± std (sample std) over seeds, and n.

    Why a run learns or not, layer by layer (gradients, activations, dead units ...): cnnlab inspect.
    """
    from cnnlab.compare.show import show_comparison  # the work, and its imports, only when the command runs
    from cnnlab.errors import UsageError

    if band is not None and plot is None:
        raise UsageError("--band draws a band on the curve plot: give --plot FILE with it")
    show_comparison(paths or [], where=where or (), sort=sort, ascending=ascending, top=top, metrics=metrics,
                    fmt=fmt, aggregate=aggregate, all_params=all_params, plot=plot, warn=warn,
                    band=band.value if band is not None else DEFAULT_BAND)
