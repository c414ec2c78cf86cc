"""`cnnlab report RUNS... --out DIR`: each experiment's claims, verdicts, tables and plots as markdown.

Reads files only: never imports torch (matplotlib for the plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnlab.commands import warn

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab train experiments/activations.yaml --set data.dataset=shapes --jobs 2",
    "cnnlab report runs/activations --out /tmp/report",
    "cnnlab report runs/shapes --out experiments/results/shapes --title 'The lecture on shapes'",
    "",
    "[bold]Claims[/bold] (in a spec's `claims:` list): 'A > B on METRIC \\[at epoch N]', 'A < B on ...', "
    "'A ~= B on ACCURACY', 'A ~ chance on ACCURACY', 'A > B on learns'; METRIC may be a figure of the curve: "
    "epochs_to(val_acc >= 0.9), auc(val_acc); A and B name swept values (relu, model.init=zeros, model.conv#2, "
    "joined by &).",
])


def report(
    paths: Annotated[list[Path], typer.Argument(
        help="Experiment folders (runs/<name>) or runs roots, searched recursively.", show_default=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for README.md and the PNGs (created).")],
    title: Annotated[str, typer.Option("--title", help="The page's heading.")] = "cnnlab results",
    plots: Annotated[bool, typer.Option("--plots/--no-plots",
                                        help="Draw the learning curves and, for runs with diagnostics, "
                                             "cnnlab inspect's depth plot.")] = True,
) -> None:
    """Write a markdown page with a section per experiment: its claims and verdicts, tables and plots.

    Each section holds the experiment's description, the command that reproduces it, each claim with its
    numbers and verdict, the comparison table (mean ± std over seeds), the learning curves and the
    diagnostics plot (gradient and activation std against depth, as cnnlab inspect --plot).

    The verdicts, over the seeds of each side (each claim's test, its p and Hedges' g; docs/claims.md):
    - 'A > B' holds when Welch's one-sided t-test gives p < 0.05 after Holm's adjustment over the
      experiment's tested claims, fails when the opposite direction's adjusted p does, and is inconclusive
      otherwise or with fewer than two seeds per group;
    - 'A ~= B' holds when two one-sided Welch tests put the difference within ±2 points, fails when it is
      beyond them; 'A ~ chance' is the same against chance (1/classes) within ±5 points;
    - 'A > B on learns' compares how many seeds learn (test accuracy 5 points above chance) by Fisher's
      exact test; a group whose seeds split between learning and not is flagged bimodal;
    - a figure of the architecture (parameters, MACs, receptive field) settles its claim without a test;
    - epochs_to(val_acc >= X) counts a run that never reaches X as its epochs + 1;
    - an inconclusive claim gives the seeds per group that would decide it with 80% power;
    - after cnnlab train --until-decided, the claims are decided look by look, each look at its share of
      0.05 (a Bonferroni split over the planned looks by Lan & DeMets' Pocock-type spending function).

    Besides README.md, claims.json holds every claim's verdict and numbers.
    """
    from cnnlab.compare.report import write_report  # the work, and its imports, only when the command runs

    page = write_report(paths, out, warn=warn, title=title, plots=plots)
    typer.echo(f"wrote {page}", err=True)
