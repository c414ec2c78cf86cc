"""`cnnlab eval RUN`: accuracy, per-class accuracy and confusion matrix of a saved run."""

from __future__ import annotations

import json
from pathlib import Path

import typer


def evaluate(
    run: Path = typer.Argument(..., metavar="RUN", help="A run directory (runs/<name>/<run-id>)."),
    split: str = typer.Option("test", "--split", help="test | val | train"),
    checkpoint: str = typer.Option("best", "--checkpoint", help="best | last"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N | mps"),
    fmt: str = typer.Option("table", "--format", help="table | json"),
) -> None:
    """Evaluate a saved run's checkpoint on one split: accuracy, per-class accuracy, confusion matrix.

    Example: cnnlab eval runs/quickstart/20261127-061001-s0-eac7 --split val
    """
    from cnnlab.errors import CnnlabError

    for name, value, allowed in (("--split", split, ("test", "val", "train")),
                                 ("--checkpoint", checkpoint, ("best", "last")),
                                 ("--format", fmt, ("table", "json"))):
        if value not in allowed:
            raise CnnlabError(f"{name}: expected one of {', '.join(allowed)}, got {value!r}")
    from cnnlab.evaluate import evaluate_run

    result = evaluate_run(run, split, checkpoint, device)
    if fmt == "json":
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    from rich.console import Console

    from cnnlab.evaluate_report import confusion_table

    console = Console(highlight=False)
    console.print(f"{result.run}  {result.split} split, {result.checkpoint}.pt (epoch {result.epoch}): "
                  f"accuracy {result.accuracy:.2%} of {result.total:,} images")
    console.print(confusion_table(result))
