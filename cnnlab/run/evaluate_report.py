"""An evaluation for people (a confusion matrix with each class's accuracy) or for programs (JSON).

Predicted classes are numbered columns (the row labels say which number is which), so ten classes
fit in 80 columns; in a narrower terminal the rows are numbered too, and a note names the classes."""

from __future__ import annotations

import json

from cnnlab.run.evaluate import Evaluation
from cnnlab.util.table import Column, TextTable, print_table
from cnnlab.util.terminal import make_console


def confusion_table(result: Evaluation) -> TextTable:
    k = len(result.classes)

    def cell_style(j: int):
        def style(row: int, text: str) -> list[tuple[int, int, str]]:
            if row == j:
                return [(0, len(text), "bold")]
            return [(0, len(text), "dim")] if text == "·" else []
        return style

    columns = [Column("true class", [f"{i} {name}" for i, name in enumerate(result.classes)],
                      compact=[str(i) for i in range(k)], compact_header="true",
                      compact_note="classes: " + ", ".join(f"{i} {name}" for i, name in enumerate(result.classes)))]
    for j in range(k):
        columns.append(Column(str(j), [str(row[j]) if row[j] else "·" for row in result.confusion], align="right",
                              style=cell_style(j)))
    columns.append(Column("acc", ["—" if acc is None else f"{acc:.1%}" for acc in result.class_accuracy()],
                          align="right", style=lambda row, text: [(0, len(text), "bold")]))
    return TextTable(columns, title="confusion matrix: rows are the true class, columns the predicted one",
                     narrowing=[("compact", "true class")])


def print_evaluation(result: Evaluation, fmt: str) -> None:
    """`table`: a summary line and the confusion matrix; `json`: every figure as one document."""
    if fmt == "json":
        print(json.dumps(result.as_dict(), indent=2))
        return
    console = make_console()
    console.print(f"{result.run}  {result.split} split, {result.checkpoint}.pt (epoch {result.epoch}): "
                  f"accuracy {result.accuracy:.2%} of {result.total:,} images, balanced accuracy "
                  f"{result.balanced_accuracy:.2%} (the mean of the classes' accuracies)", markup=False)
    console.print()
    print_table(confusion_table(result), console)
