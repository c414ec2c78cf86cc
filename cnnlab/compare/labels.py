"""Names for configurations in a legend: only the spec keys that differ, each by its shortest unique
ending. Shared by the learning-curve plot of compare and the figures of inspect (torch- and
matplotlib-free)."""

from __future__ import annotations

from collections.abc import Sequence

from cnnlab.compare.load import Run
from cnnlab.compare.query import format_plain
from cnnlab.compare.rows import Row


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each dotted key as its shortest ending that is still unique: model.activation → activation."""
    out = {}
    for key in keys:
        if "(" in key:  # len(model.conv) reads only whole
            out[key] = key
            continue
        parts = key.split(".")
        for i in range(len(parts) - 1, -1, -1):
            tail = ".".join(parts[i:])
            if sum(k == tail or k.endswith("." + tail) for k in keys) == 1:
                out[key] = tail
                break
    return out


def row_labels(rows: Sequence[Row], keys: Sequence[str]) -> tuple[list[str], str]:
    """Legend entries naming only the differing keys (one key: its values, under a title), with the
    number of seeds when some row averages several; and the legend's title."""
    short = short_keys(keys)

    def name(row: Row) -> str:
        if len(keys) == 1:
            return format_plain(row.value(keys[0]))
        return ", ".join(f"{short[k]}={format_plain(row.value(k))}" for k in keys) or "all runs"

    with_n = any(len(row.used) > 1 for row in rows)  # seeds were averaged: say over how many
    labels = [f"{name(row)} (n={len(row.used)})" if with_n else name(row) for row in rows]
    return labels, keys[0] if len(keys) == 1 else ""


def configuration_labels(rows: Sequence[Row], members: Sequence[Sequence[Run]], keys: Sequence[str]) -> list[str]:
    """inspect's names for configurations (`rows`, each shown by the runs `members`): the differing
    keys; a lone configuration, by its experiment's name (and run)."""
    if len(rows) == 1:  # nothing differs: name the experiment (and the run)
        runs = members[0]
        name = runs[0].config.get("name", "runs")
        return [f"{name}/{runs[0].run_id}" if len(runs) == 1 else f"{name} (n={len(runs)})"]
    return row_labels(rows, keys)[0]
