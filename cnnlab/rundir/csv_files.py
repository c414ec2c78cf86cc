"""metrics.csv, diagnostics.csv and distributions.csv: rows of their typed records (cnnlab.rundir.records) as CSV text,
and back."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from cnnlab.rundir.records import (
    DiagnosticsRow,
    DistributionRow,
    MetricsRow,
    R,
    Record,
    RecordError,
    validation_problem,
)

METRIC_COLUMNS = tuple(MetricsRow.model_fields)
DIAGNOSTIC_COLUMNS = tuple(DiagnosticsRow.model_fields)
DISTRIBUTION_COLUMNS = tuple(DistributionRow.model_fields)


def metrics_csv(rows: Sequence[MetricsRow]) -> str:
    return _records_csv(rows, METRIC_COLUMNS)


def diagnostics_csv(rows: Sequence[DiagnosticsRow], header: bool = True) -> str:
    """diagnostics.csv's lines for `rows` (without the header: lines to add to a file that has one)."""
    return _records_csv(rows, DIAGNOSTIC_COLUMNS, header)


def distributions_csv(rows: Sequence[DistributionRow], header: bool = True) -> str:
    """distributions.csv's lines for `rows` (without the header: lines to add to a file that has one)."""
    return _records_csv(rows, DISTRIBUTION_COLUMNS, header)


def _records_csv(rows: Sequence[Record], columns: Sequence[str], header: bool = True) -> str:
    """Records as CSV: a header of `columns`, one line per record, floats to 6 significant digits."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow(_csv_cell(getattr(row, column)) for column in columns)
    return buf.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def parse_metrics(text: str, path: str | Path) -> tuple[list[MetricsRow], int]:
    """metrics.csv's rows, a later row for the same epoch replacing an earlier one; and how many rows
    could not be read. RecordError when there is no epoch column."""
    lines = csv.reader(text.splitlines())
    header = next(lines, None)
    if header is None:  # created, no epoch finished yet
        return [], 0
    header = [name.strip() for name in header]
    if "epoch" not in header:
        raise RecordError(path, "no epoch column")
    by_epoch: dict[int, MetricsRow] = {}
    bad = 0
    for cells in lines:
        if not cells:
            continue
        try:
            row = MetricsRow.model_validate(dict(zip(header, cells, strict=False)))
        except ValidationError:
            bad += 1
            continue
        by_epoch[row.epoch] = row
    return [by_epoch[e] for e in sorted(by_epoch)], bad


def parse_diagnostics(text: str, path: str | Path) -> list[DiagnosticsRow]:
    """diagnostics.csv's rows; RecordError (naming the file and the line) for a file that is not one."""
    return _parse_rows(text, path, DiagnosticsRow, "diagnostics")


def parse_distributions(text: str, path: str | Path) -> list[DistributionRow]:
    """distributions.csv's rows; RecordError (naming the file and the line) for a file that is not one."""
    return _parse_rows(text, path, DistributionRow, "distributions")


def _parse_rows(text: str, path: str | Path, cls: type[R], what: str) -> list[R]:
    """The rows of a tidy record file whose header names every field of `cls`."""
    lines = csv.reader(text.splitlines())
    header = [name.strip() for name in next(lines, [])]
    missing = [column for column in cls.model_fields if column not in header]
    if missing:
        raise RecordError(path, f"not a {what} file (no {', '.join(missing)} column)")
    rows = []
    for number, cells in enumerate(lines, 2):
        if not cells:
            continue
        try:
            rows.append(cls.model_validate(dict(zip(header, cells, strict=False))))
        except ValidationError as err:
            raise RecordError(path, f"line {number}: {validation_problem(err)}") from None
    return rows
