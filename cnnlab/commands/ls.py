"""`cnnlab ls [RUNS_DIR | EXPERIMENT]`: the runs there, their status and what differs between them.

Reads files only: never imports torch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab ls",
    "cnnlab ls runs/activations",
    "cnnlab ls runs --format csv > runs.csv",
])


def _warn(message: str) -> None:
    typer.echo(f"warning: {message}", err=True)


def ls(
    paths: Annotated[list[Path] | None, typer.Argument(
        metavar="[RUNS_DIR | EXPERIMENT]...", show_default=False,
        help="Runs roots, experiment folders or run directories (searched recursively). Default: runs")] = None,
    fmt: Annotated[Literal["table", "csv", "json", "markdown"], typer.Option(
        "--format", "-f", help="How to print the list.")] = "table",
) -> None:
    """List runs, oldest first: id, status, the spec keys that differ between them, test accuracy, age."""
    from cnnlab.compare.listing import show_listing

    show_listing(paths or [], fmt, _warn)
