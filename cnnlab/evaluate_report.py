"""The confusion matrix as a Rich table, with each class's accuracy. Predicted classes are numbered
columns (the row labels say which number is which), so ten classes fit in 80 columns."""

from __future__ import annotations

from rich.table import Table

from cnnlab.evaluate import Evaluation


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
