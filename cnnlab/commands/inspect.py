"""`cnnlab inspect`: per-layer diagnostics of runs — why a run learns or not.

Reads files only: never imports torch (nor matplotlib unless --plot is given)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab.commands import warn
from cnnlab.compare.flags import thresholds_help

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab inspect runs/quickstart/20261127-061001-s0-eac7",
    "cnnlab inspect runs/init --plot init.png",
    "cnnlab inspect runs/activations --epoch 1 --format markdown > activations.md",
    "\n[bold]Flags[/bold] (on each configuration at init and at the chosen epoch):",
    *thresholds_help().splitlines(),
])


def inspect(
    paths: Annotated[list[Path], typer.Argument(
        metavar="RUN...", show_default=False,
        help="Run directories, sweep directories or runs roots (searched recursively); FOLDER/PIECE: the run "
             "of FOLDER whose id holds PIECE.",
    )],
    epoch: Annotated[int | None, typer.Option(
        "--epoch", "-e", min=0, help="The epoch to show beside init. Default: the last one every run recorded.",
    )] = None,
    fmt: Annotated[Literal["table", "json", "csv", "markdown"], typer.Option(
        "--format", "-f", help="How to print the diagnostics.")] = "table",
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Also draw gradient per weight and activation std against depth, at init and at the "
                       "epoch, one line per configuration, into this .png/.svg.",
    )] = None,
) -> None:
    """Why runs learn or not: per-layer statistics on each run's fixed probe batch, at init and at one epoch.

    For every conv and linear layer and the activation after it: activation mean and std, dead and
    saturated units, distinct units, weight norm, gradient norm (total and per weight) and the
    update-to-weight ratio, with plain-language flags. Runs that differ only in their seed are one
    configuration: geometric mean over seeds for std, norms and ratios, the range of the runs' counts
    for units (63–64), arithmetic mean otherwise.
    """
    from cnnlab.compare.inspect import show_inspection  # the work, and its imports, only when the command runs

    show_inspection(paths, epoch=epoch, fmt=fmt, plot=plot, warn=warn)
