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
    "cnnlab report runs --out experiments/results --title 'The lecture on shapes'",
    "",
    "[bold]Claims[/bold] (in a spec's `claims:` list): 'A > B on METRIC \\[at epoch N]', 'A < B on ...', "
    "'A ~= B on ACCURACY', 'A ~ chance on ACCURACY'; A and B name swept values (relu, model.init=zeros, "
    "model.conv#2, joined by &).",
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

    The verdicts, over the seeds of each side:
    - 'A > B' holds when Welch's one-sided t-test gives p < 0.05, fails when the opposite direction does,
      and is inconclusive otherwise or with fewer than two seeds per group;
    - 'A ~= B' holds when two one-sided Welch tests put the difference within ±2 points (p < 0.05);
    - 'A ~ chance' holds when every seed is within 5 points of 1/classes.
    """
    from cnnlab.compare.report import write_report  # the work, and its imports, only when the command runs

    page = write_report(paths, out, warn=warn, title=title, plots=plots)
    typer.echo(f"wrote {page}", err=True)
