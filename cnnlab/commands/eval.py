"""`cnnlab eval RUN`: accuracy, per-class accuracy and confusion matrix of a saved run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab.commands.choose import RUN_HELP, Best, Latest

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab eval runs/quickstart/20261127-061001-s0-eac7 --split val",
    "cnnlab eval runs/quickstart --latest",
    "cnnlab eval runs/activations --best test_acc",
    "cnnlab eval runs/activations/relu-s1",
])


def evaluate(
    run: Annotated[Path, typer.Argument(metavar="RUN", help=RUN_HELP)],
    split: Annotated[Literal["test", "val", "train"], typer.Option("--split", help="The split to evaluate on.")]
    = "test",
    checkpoint: Annotated[Literal["best", "last"], typer.Option("--checkpoint", help="Which checkpoint.")] = "best",
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda | cuda:N | mps")] = "auto",
    fmt: Annotated[Literal["table", "json"], typer.Option("--format", help="How to print the result.")] = "table",
    latest: Latest = False,
    best: Best = None,
) -> None:
    """Evaluate a saved run's checkpoint on one split: accuracy, per-class accuracy, confusion matrix."""
    from cnnlab.compare.find import find_run  # torch-free: which run, before torch is imported

    chosen = find_run(run, latest=latest, best=best, warn=lambda message: typer.echo(f"warning: {message}", err=True))
    from cnnlab.train.threads import configure_threads

    configure_threads()
    from cnnlab.run.evaluate import evaluate_run
    from cnnlab.run.evaluate_report import print_evaluation

    print_evaluation(evaluate_run(chosen, split, checkpoint, device), fmt)
