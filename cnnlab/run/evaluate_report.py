"""An evaluation for people (a confusion matrix with each class's accuracy) or for programs (JSON).

Predicted classes are numbered columns (the row labels say which number is which), so ten classes
fit in 80 columns."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from cnnlab.run.evaluate import Evaluation


def confusion_table(result: Evaluation) -> Table:
    table = Table(title="confusion matrix: rows are the true class, columns the predicted one",
                  title_justify="left")
    table.add_column("true class")
    for j in range(len(result.classes)):
        table.add_column(str(j), justify="right")
    table.add_column("acc", justify="right", style="bold")
    for i, (name, row, acc) in enumerate(zip(result.classes, result.confusion, result.class_accuracy(), strict=True)):
        cells = [f"[bold]{n}[/bold]" if j == i else (str(n) if n else "[dim]·[/dim]") for j, n in enumerate(row)]
        table.add_row(f"{i} {name}", *cells, "—" if acc is None else f"{acc:.1%}")
    return table


def print_evaluation(result: Evaluation, fmt: str) -> None:
    """`table`: a summary line and the confusion matrix; `json`: every figure as one document."""
    if fmt == "json":
        print(json.dumps(result.as_dict(), indent=2))
        return
    console = Console(highlight=False)
    console.print(f"{result.run}  {result.split} split, {result.checkpoint}.pt (epoch {result.epoch}): "
                  f"accuracy {result.accuracy:.2%} of {result.total:,} images")
    console.print(confusion_table(result))
