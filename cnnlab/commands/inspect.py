"""`cnnlab inspect`: per-layer diagnostics of runs — why a run learns or not.

Reads files only: never imports torch (nor matplotlib unless --plot is given)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab.commands import warn
from cnnlab.compare.figures import FIGURES
from cnnlab.compare.flags import thresholds_help

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab inspect runs/quickstart/20261127-061001-s0-eac7",
    "cnnlab inspect runs/init --plot init.png",
    "cnnlab inspect runs/norms --plot percentiles.png --view percentiles --layers conv1,fc1",
    "cnnlab inspect runs/init --plot histograms.png --view histograms --epoch 5",
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
        "--epoch", "-e", min=0, help="The epoch to show beside init. Default: the last one every run recorded. "
                                     "The histograms view draws it (default: init).",
    )] = None,
    fmt: Annotated[Literal["table", "json", "csv", "markdown"], typer.Option(
        "--format", "-f", help="How to print the diagnostics.")] = "table",
    plot: Annotated[Path | None, typer.Option(
        "--plot", help="Also draw a figure (--view) into this .png/.svg.",
    )] = None,
    view: Annotated[Literal[tuple(FIGURES)] | None, typer.Option(
        "--view", help="What --plot draws. depth (the default): gradient per weight and activation std against "
                       "depth, at init and at the epoch, one line per configuration. percentiles: each layer's "
                       "pre-activation and activation percentiles (2, 15, 50, 85, 98) against steps, one look per "
                       "configuration (Ioffe & Szegedy 2015, Fig. 1). histograms: per configuration, the normalized "
                       "histograms of each layer's activations and gradients at init or at --epoch (Glorot & "
                       "Bengio 2010, Fig. 6, 7).", show_default=False,
    )] = None,
    layers: Annotated[str | None, typer.Option(
        "--layers", metavar="NAME,...", help="The layers the percentiles and histograms views draw, e.g. conv1,fc1. "
                                             "Default: all (percentiles: at most 8, spread over the depth).",
    )] = None,
) -> None:
    """Why runs learn or not: per-layer statistics on each run's fixed probe batch, at init and at one epoch.

    For every conv and linear layer and the activation after it: activation mean and std, dead and
    saturated units, distinct units, weight norm, gradient norm (total and per weight) and the
    update-to-weight ratio, with plain-language flags. Runs that differ only in their seed are one
    configuration: geometric mean over seeds for std, norms and ratios, the range of the runs' counts
    for units (63–64), arithmetic mean otherwise. --plot draws a figure of them, or of the
    distributions every run records (distributions.csv).
    """
    from cnnlab.compare.inspect import show_inspection  # the work, and its imports, only when the command runs

    show_inspection(paths, epoch=epoch, fmt=fmt, plot=plot, warn=warn, view=view,
                    layers=[name.strip() for name in layers.split(",") if name.strip()] if layers else ())
