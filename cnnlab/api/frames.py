"""Records as pandas DataFrames, pandas imported on first use (it costs most of a second), and the
warnings of the loaders as Python warnings."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from cnnlab.compare.load import DEFAULT_RUNS
from cnnlab.compare.metrics import CompareError


class RunWarning(UserWarning):
    """A run, or a file of it, that could not be read whole: left out or shown without the part."""


def warn(message: str) -> None:
    warnings.warn(message, RunWarning, stacklevel=3)


def frame(records: Iterable[dict[str, Any]], columns: Sequence[str] = ()) -> Any:
    """A DataFrame of `records` (dicts, column by key); `columns` when there are none, so that an
    empty result still has its columns."""
    import pandas

    rows = list(records)
    return pandas.DataFrame.from_records(rows) if rows else pandas.DataFrame(columns=list(columns))


def run_paths(paths: Sequence[str | Path]) -> list[Path]:
    """The folders to read runs from: `paths`, or runs/ of the working directory."""
    if paths:
        return [Path(p) for p in paths]
    if not DEFAULT_RUNS.is_dir():
        raise CompareError(f"no {DEFAULT_RUNS}/ here; name run, sweep or runs directories: cnnlab.load_runs(PATH, ...)")
    return [DEFAULT_RUNS]
