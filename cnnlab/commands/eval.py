"""`cnnlab eval RUN`: accuracy, per-class accuracy and confusion matrix of a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

EPILOG = "[bold]Example[/bold]\ncnnlab eval runs/quickstart/20261127-061001-s0-eac7 --split val"


def evaluate(
    run: Annotated[Path, typer.Argument(metavar="RUN", help="A run directory (runs/<name>/<run-id>).")],
    split: Annotated[Literal["test", "val", "train"], typer.Option("--split", help="The split to evaluate on.")]
    = "test",
    checkpoint: Annotated[Literal["best", "last"], typer.Option("--checkpoint", help="Which checkpoint.")] = "best",
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", help="How to print the result.")] = "table",
) -> None:
    """Evaluate a saved run's checkpoint on one split: accuracy, per-class accuracy, confusion matrix."""
    from cnnlab.run.evaluate import evaluate_run
    from cnnlab.run.evaluate_report import print_evaluation

    print_evaluation(evaluate_run(run, split, checkpoint, device), fmt)
