"""Turn a Comparison into text: an aligned table for the terminal, markdown for a report, csv / json
(raw numbers, mean/std/n columns) for pandas and spreadsheets."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Any, TextIO

from cnnlab.compare.build import Comparison
from cnnlab.compare.load import MISSING
from cnnlab.compare.metrics import metric as metric_info
from cnnlab.compare.query import format_plain
from cnnlab.compare.rows import Row, Stat
from cnnlab.rundir.ids import undated
from cnnlab.util.table import Column, TextTable, print_table
from cnnlab.util.terminal import console_for
from cnnlab.util.text import duration, key_labels, markdown_table, si

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24  # longer histories are averaged down to this many characters
# Left out first when a table is wider than the terminal: the least needed to tell configurations apart.
NARROW_DROP_ORDER = (
    "images_per_second", "macs", "train_seconds", "epochs", "params", "final_val_acc", "curve", "status"
)
LAST_DROPPED = ("final_train_loss", "best_val_acc")  # after keys are shortened, if still too wide
STATUS_STYLES = {
    "completed": "green",
    "diverged": "magenta",
    "running": "cyan",
    "interrupted": "yellow",
    "stale": "yellow",
    "failed": "red",
    "unknown": "dim",
}


def sparkline(values: Sequence[float], low: float, high: float, width: int = SPARK_WIDTH) -> str:
    """Unicode blocks for `values` on the scale low..high (shared by all rows, so rows compare)."""
    if len(values) > width:
        edges = [round(i * len(values) / width) for i in range(width + 1)]
        values = [sum(values[a:b]) / (b - a) for a, b in pairwise(edges)]
    span = high - low
    top = len(SPARK_BLOCKS) - 1
    return "".join(
        SPARK_BLOCKS[round((v - low) / span * top) if span > 0 else top // 2] for v in values
    )


def _whole(x: float) -> str:
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


FORMATTERS: dict[str, Callable[[float], str]] = {
    "fraction": lambda x: f"{100 * x:.2f}",  # accuracies read as percentages
    "loss": lambda x: f"{x:.4f}" if abs(x) < 100 else f"{x:.4g}",
    "int": _whole,
    "count": si,
    "seconds": duration,
    "rate": lambda x: f"{x:,.0f}",
}
EXACT_KINDS = frozenset({"int", "count"})  # equal across seeds as a rule: "± 0" would be noise
MACHINE_KINDS = frozenset({"seconds", "rate"})  # their spread measures the machine, not the model


def format_stat(metric: str, stat: Stat) -> str:
    """`97.31 ± 0.12` (std only for n ≥ 2), blank when no run has the metric. Times and speeds show
    the mean only (csv/json keep their std)."""
    if stat.mean is None:
        return ""
    kind = metric_info(metric).kind
    fmt = FORMATTERS[kind]
    text = fmt(stat.mean) if math.isfinite(stat.mean) else str(stat.mean)
    if stat.std is None or kind in MACHINE_KINDS or (kind in EXACT_KINDS and stat.std == 0):
        return text
    return f"{text} ± {fmt(stat.std) if math.isfinite(stat.std) else stat.std}"


def status_text(row: Row) -> str:
    """`completed` for a run, `2 completed, 1 failed` for a configuration."""
    return "".join(text for text, _ in _status_parts(row))


def _curve_scale(rows: Sequence[Row]) -> tuple[float, float]:
    values = [v for row in rows for v in row.val_acc.mean]
    return (min(values), max(values)) if values else (0.0, 1.0)


def _leading(comparison: Comparison) -> list[str]:
    """The columns before the metrics: run id (per-run rows), the differing spec keys, n (groups)."""
    if comparison.aggregated:
        return [*comparison.keys, "n"]
    return ["run", *comparison.keys]


def _header(comparison: Comparison, column: str) -> str:
    if metric_info(column) is not None:
        label = metric_info(column).label
        if column == comparison.sort_by:
            label += " ▲" if comparison.ascending else " ▼"
        return label
    return {"curve": "val acc curve"}.get(column, column)


# Columns that are neither a metric nor a spec key: how each reads in a row.
SPECIAL_CELLS: dict[str, Callable[[Row, tuple[float, float]], str]] = {
    "run": lambda row, _: row.run_id or "",
    "n": lambda row, _: str(len(row.used)),
    "status": lambda row, _: status_text(row),
    "curve": lambda row, scale: sparkline(row.val_acc.mean, *scale),
}


def _cell(row: Row, column: str, scale: tuple[float, float]) -> str:
    if column in SPECIAL_CELLS:
        return SPECIAL_CELLS[column](row, scale)
    if metric_info(column) is not None:
        return format_stat(column, row.stats[column])
    return format_plain(row.value(column))


def text_table(comparison: Comparison) -> tuple[list[str], list[str], list[list[str]]]:
    """(column names, headers, cell text per row) as every human-readable format shows them."""
    columns = _leading(comparison) + comparison.visible_columns()
    scale = _curve_scale(comparison.rows)
    cells = [[_cell(row, c, scale) for c in columns] for row in comparison.rows]
    return columns, [_header(comparison, c) for c in columns], cells


def _right_aligned(column: str) -> bool:
    return metric_info(column) is not None or column == "n"


def render_table(comparison: Comparison, stream: TextIO) -> None:
    """Aligned columns under a rule, one line per row (so it pages and greps well), fitted to the
    terminal (cnnlab.util.table); on a terminal the best value of each accuracy/loss column in bold
    green and statuses in colour."""
    print_table(comparison_table(comparison), console_for(stream))


def comparison_table(comparison: Comparison) -> TextTable:
    """The comparison as a TextTable: its columns, and how it narrows for a narrow terminal (least
    needed metrics out first; never status while some run did not complete; spec keys by their
    shortest unique tail; run ids without their date and time)."""
    columns, headers, cells = text_table(comparison)
    best = {c: _best_mean(comparison.rows, c) for c in columns if metric_info(c) is not None and metric_info(c).better}
    short = key_labels(comparison.keys)

    def styler(column: str):
        def style(i: int, text: str) -> list[tuple[int, int, str]]:
            return _styles(comparison, comparison.rows[i], column, text, best)
        return style

    table_columns = []
    for i, column in enumerate(columns):
        texts = [row[i] for row in cells]
        compact, compact_header, note = None, None, ""
        if column in comparison.keys and short[column] != column:
            compact, compact_header = texts, short[column]
        elif column == "run":
            compact, note = [undated(t) for t in texts], "run: its id without the date and time"
        table_columns.append(Column(headers[i], texts, "right" if _right_aligned(column) else "left", name=column,
                                    compact=compact, compact_header=compact_header, compact_note=note,
                                    style=styler(column)))
    what = "mean ± std over seeds" if comparison.aggregated else "one row per run"
    return TextTable(table_columns, title=comparison.title, notes=[f"{what}; accuracies in %"],
                     narrowing=[] if comparison.columns_chosen else _narrowing(comparison, columns),
                     left_out_hint=" (see --metrics)")


def _narrowing(comparison: Comparison, columns: list[str]) -> list[tuple[str, str]]:
    troubled = any(run.status != "completed" for run in comparison.runs)
    steps: list[tuple[str, str]] = [("drop", c) for c in NARROW_DROP_ORDER if not (troubled and c == "status")]
    steps += [("compact", key) for key in comparison.keys] + [("compact", "run")]
    steps += [("drop", c) for c in LAST_DROPPED if c != comparison.sort_by]
    return steps


def _styles(comparison: Comparison, row: Row, column: str, text: str, best: dict) -> list[tuple[int, int, str]]:
    """(start, end, style) stretches of a cell's text on a terminal."""
    if column == "status":
        stretches, at = [], 0
        for part, style in _status_parts(row):
            if style:
                stretches.append((at, at + len(part), style))
            at += len(part)
        return stretches
    if column in comparison.keys:
        return [(0, len(text), "cyan")]
    if best.get(column) is not None and row.stats[column].mean == best[column]:
        return [(0, len(text), "bold green")]
    return []


def _status_parts(row: Row) -> list[tuple[str, str | None]]:
    parts: list[tuple[str, str | None]] = []
    for status, n in row.status_counts.items():
        if parts:
            parts.append((", ", None))
        parts.append((status if row.run_id is not None else f"{n} {status}", STATUS_STYLES.get(status)))
    return parts


def _best_mean(rows: Sequence[Row], metric: str) -> float | None:
    """The best finite mean of `metric`, or None when fewer than two rows have one (nothing to beat)."""
    means = [m for row in rows if (m := row.stats[metric].mean) is not None and math.isfinite(m)]
    if len(means) < 2:
        return None
    return max(means) if metric_info(metric).better == "high" else min(means)


def render_markdown(comparison: Comparison, stream: TextIO) -> None:
    """A GitHub-flavoured pipe table under a bold title line: pastes into a report as is."""
    columns, headers, cells = text_table(comparison)
    stream.write(f"**{comparison.title}**\n\n")
    stream.write(markdown_table(headers, cells, [_right_aligned(c) for c in columns]))


def _raw(value: float | None) -> float | None:
    """JSON has no NaN/inf: those become null (a diverged run's status says why)."""
    return value if value is None or math.isfinite(value) else None


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def records(comparison: Comparison) -> list[dict[str, Any]]:
    """One flat dict per row with raw numbers: metric values per run, or <metric>_mean/_std and n
    per configuration; spec keys under their dotted names; the val-acc curve when it was asked for."""
    out = []
    for row in comparison.rows:
        record: dict[str, Any] = {}
        if row.run_id is not None:
            record["run_id"] = row.run_id
            record["path"] = str(row.runs[0].path)
        for key in comparison.keys:
            value = row.value(key)
            record[key] = None if value is MISSING else _plain(value)
        if comparison.aggregated:
            record["n"] = len(row.used)
        for column in comparison.columns:
            if metric_info(column) is not None:
                stat = row.stats[column]
                if comparison.aggregated:
                    record[f"{column}_mean"] = _raw(stat.mean)
                    record[f"{column}_std"] = _raw(stat.std)
                else:
                    record[column] = _raw(stat.mean)
            elif column == "status":
                record["status"] = row.runs[0].status if row.run_id is not None else row.status_counts
            elif column == "curve":
                record["val_acc_curve"] = list(row.val_acc.mean)
        if comparison.aggregated:
            record["runs"] = [str(run.path) for run in row.runs]
        out.append(record)
    return out


def render_json(comparison: Comparison, stream: TextIO) -> None:
    """A JSON list of row objects (pandas.DataFrame(json.load(f)) reads it)."""
    json.dump(records(comparison), stream, indent=1, allow_nan=False)
    stream.write("\n")


CSV_SKIPPED = ("runs", "val_acc_curve")  # lists: json only


def table_records(comparison: Comparison) -> list[dict[str, Any]]:
    """`records`, with a configuration's statuses as text (`2 completed, 1 failed`): one value a cell,
    for CSV and DataFrames."""
    rows = records(comparison)
    for row, record in zip(comparison.rows, rows, strict=True):
        if "status" in record:
            record["status"] = status_text(row)
    return rows


def render_csv(comparison: Comparison, stream: TextIO) -> None:
    """CSV with raw numbers (full precision); lists as `[3, 3]`, group statuses as `3 completed`."""
    rows = table_records(comparison)
    fields = [f for f in rows[0] if f not in CSV_SKIPPED]
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(fields)
    for record in rows:
        writer.writerow([_csv_cell(record[f]) for f in fields])


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else format_plain(_tuples(value))


def _tuples(value: Any) -> Any:
    """Undo `_plain`: lists back to the tuples that format_plain writes as `[3, 3]`."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


FORMATS: dict[str, Callable[[Comparison, TextIO], None]] = {
    "table": render_table,
    "csv": render_csv,
    "json": render_json,
    "markdown": render_markdown,
}
