"""A tidy record file of every run (diagnostics.csv, distributions.csv), read through its typed rows
and grouped by configuration as compare groups runs, in the order the experiment lists them.

Reads files only; never imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from cnnlab.compare.load import MISSING, Run, flatten_spec
from cnnlab.compare.metrics import CompareError
from cnnlab.compare.rows import Row, configurations, differing_keys, group_row
from cnnlab.rundir.records import MissingRecord, R, RecordError, read_text

Parse = Callable[[str, str], list[R]]


def read_table(run: Run, name: str, parse: Parse) -> list[R] | None:
    """The run's file `name` as rows, or None when it has none; RecordError when it is malformed."""
    path = os.path.join(run.path, name)
    try:
        return parse(read_text(path), path)
    except MissingRecord:
        return None


def grouped_tables(runs: Sequence[Run], name: str, parse: Parse, absent: str,
                   warn: Callable[[str], None]) -> tuple[list[tuple[Row, list[Run]]], dict[str, list], list[str]]:
    """The configurations of `runs` whose runs have the file `name` (each with the runs that have it),
    those runs' rows by path, and the spec keys that tell the configurations apart. Runs without it
    are left out with a warning (`absent` says why a run may lack it); none at all is an error."""
    tables: dict[str, list] = {}
    for run in runs:
        try:
            rows = read_table(run, name, parse)
        except RecordError as err:
            warn(f"{err}; left out")
            continue
        if rows is None:
            if len(runs) == 1:
                raise CompareError(f"{run.path}: no {name}; {absent}")
            warn(f"{run.path}: no {name}; left out")
        elif rows:
            tables[str(run.path)] = rows
    groups = []
    for members in configurations(runs):
        row = group_row(members)
        used = [r for r in row.used if str(r.path) in tables]
        if used:
            groups.append((row, used))
    if not groups:
        raise CompareError(f"none of the {len(runs)} runs has {name}; {absent}")
    groups.sort(key=lambda group: sweep_position(group[1][0]))
    return groups, tables, differing_keys([row for row, _ in groups], _swept(runs))


def sweep_position(run: Run) -> tuple:
    """Where a run's configuration comes in its sweep (the order of the values in sweep.yaml), so that
    configurations read as the experiment lists them, whatever the order their runs were made in."""
    if run.sweep is None:
        return (str(run.path),)
    position: list[Any] = [str(run.sweep.path)]
    for key, values in run.sweep.record.sweep.items():
        matches = [i for i, value in enumerate(values) if _holds(run.config, key, value)]
        position.append(matches[0] if matches else len(values))
    return tuple(position)


def _holds(config: dict[str, Any], key: str, value: Any) -> bool:
    """Whether the flattened spec `config` has `value` (as written in a sweep) at the dotted `key`."""
    nested: Any = value
    for part in reversed(key.split(".")):
        nested = {part: nested}
    return all(config.get(k, MISSING) == v for k, v in flatten_spec(nested).items())


def _swept(runs: Sequence[Run]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(k for run in runs if run.sweep for k in run.sweep.keys))
