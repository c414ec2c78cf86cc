"""`cnnlab ls`: the runs under a folder, one line each: id, status, the spec keys that differ, test
accuracy and age, oldest first (the newest lands next to the prompt). Reads files only."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from cnnlab.compare.load import DEFAULT_RUNS, MISSING, Run, load_runs, spec_value
from cnnlab.compare.metrics import CompareError
from cnnlab.compare.query import format_plain
from cnnlab.compare.render import FORMATTERS, STATUS_STYLES
from cnnlab.compare.rows import differing_keys, run_rows
from cnnlab.rundir.ids import short_ids
from cnnlab.rundir.liveness import seconds_since
from cnnlab.spec.labels import value_label
from cnnlab.util.table import Column, TextTable, print_table
from cnnlab.util.terminal import make_console
from cnnlab.util.text import ago, key_labels, markdown_table, plural


class Listing:
    """The runs, oldest first, with the keys that tell them apart: within one experiment, a column
    per key; across several, the experiment's name and each run's settings as `key=value` words."""

    def __init__(self, runs: Sequence[Run], now: datetime | None = None) -> None:
        self.runs = sorted(runs, key=lambda r: (r.started, r.run_id))
        experiments: dict[Path, list[Run]] = {}
        for run in self.runs:
            experiments.setdefault(run.path.parent, []).append(run)
        self.experiment_keys = {folder: experiment_keys(members) for folder, members in experiments.items()}
        self.several = len(experiments) > 1
        self.keys = ["name", "settings"] if self.several else next(iter(self.experiment_keys.values()))
        self.now = now or datetime.now(timezone.utc)

    def value(self, run: Run, key: str) -> Any:
        """A run's value under a listed key (MISSING when it has none)."""
        if key == "settings" and self.several:
            keys = self.experiment_keys[run.path.parent]
            short = key_labels(keys)
            return " ".join(f"{short[k]}={format_plain(_cell(run, k))}" for k in keys
                            if _cell(run, k) is not MISSING)
        return _cell(run, key)

    def age(self, run: Run) -> float | None:
        return seconds_since(run.started, self.now)

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per run with raw values (csv, json)."""
        out = []
        for run in self.runs:
            age = self.age(run)
            out.append({"run_id": run.run_id, "path": str(run.path), "status": run.status,
                        **{k: _plain(None if (v := self.value(run, k)) is MISSING else v) for k in self.keys},
                        "seed": run.seed, "test_acc": run.metrics.get("test_acc"), "started": run.started or None,
                        "age_seconds": None if age is None else round(age)})
        return out


def experiment_keys(runs: Sequence[Run]) -> list[str]:
    """What tells an experiment's runs apart: its swept keys, then the other spec keys that differ
    between them (not those below a swept key: `model.conv[1].stride` when `model.conv` is swept);
    the seed is listed on its own."""
    swept = list(dict.fromkeys(k for r in runs for k in _swept(r)))
    others = [k for k in differing_keys(run_rows(runs), swept)
              if k not in ("seed", "name") and not any(_below(k, s) for s in swept)]
    return [*swept, *others]


def _swept(run: Run) -> dict[str, Any]:
    """The run's swept values (meta.json), as the labels of run ids read them (`#2[16,32]`)."""
    values = run.meta.swept if run.meta else {}
    sweep = run.sweep.record.sweep if run.sweep else {}
    return {key: value_label(value, sweep[key].index(value) if value in sweep.get(key, []) else None)
            for key, value in values.items()}


def _below(key: str, swept: str) -> bool:
    return key == swept or key.startswith((swept + ".", swept + "[")) or key == f"len({swept})"


def _cell(run: Run, key: str) -> Any:
    swept = _swept(run)
    return swept[key] if key in swept else spec_value(run.config, key)


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def listing_table(listing: Listing) -> TextTable:
    runs = listing.runs
    short = key_labels(listing.keys)
    test = [run.metrics.get("test_acc") for run in runs]
    ages = [listing.age(run) for run in runs]
    columns = [
        Column("run", [r.run_id for r in runs], compact=short_ids([r.run_id for r in runs]),
               compact_note="run: the end of its id (its seed and suffix), which FOLDER/PIECE takes"),
        Column("status", [r.status for r in runs],
               style=lambda i, text: [(0, len(text), STATUS_STYLES.get(text, ""))]),
        *(Column(key, [format_plain(listing.value(r, key)) for r in runs], compact_header=short[key],
                 compact=[format_plain(listing.value(r, key)) for r in runs] if short[key] != key else None,
                 style=lambda i, text: [(0, len(text), "cyan")])
          for key in listing.keys),
        Column("seed", [format_plain(r.seed) for r in runs], align="right"),
        Column("test acc %", ["" if t is None else FORMATTERS["fraction"](t) for t in test], align="right"),
        Column("age", ["" if a is None else ago(a) for a in ages], align="right"),
    ]
    folders = sorted({str(r.path.parent) for r in runs})
    title = f"{plural(len(runs), 'run')} in {', '.join(folders)}" if len(folders) <= 3 else \
        f"{plural(len(runs), 'run')} in {len(folders)} folders"
    # What tells the runs apart (their settings) outranks what names them at length: the ids shrink to
    # their ends, and the experiment's name goes, before the settings do.
    narrowing = [("compact", key) for key in listing.keys] + [("compact", "run"), ("drop", "age")]
    narrowing += [("drop", "status")] * all(r.status == "completed" for r in runs)
    narrowing += [("drop", "name"), ("drop", "settings"), ("drop", "test acc %")]
    return TextTable(columns, title=title, narrowing=narrowing,
                     notes=["oldest first; cnnlab eval and inspect take a unique part of a run id (FOLDER/PIECE)"])


def _table(listing: Listing, stream: TextIO) -> None:
    print_table(listing_table(listing), make_console())


def _csv(listing: Listing, stream: TextIO) -> None:
    records = listing.records()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(records[0])
    for record in records:
        writer.writerow(["" if v is None else format_plain(tuple(v) if isinstance(v, list) else v)
                         for v in record.values()])


def _json(listing: Listing, stream: TextIO) -> None:
    json.dump(listing.records(), stream, indent=1)
    stream.write("\n")


def _markdown(listing: Listing, stream: TextIO) -> None:
    table = listing_table(listing)
    rows = [[c.cells[i] for c in table.columns] for i in range(table.rows)]
    right = [c.align == "right" for c in table.columns]
    stream.write(f"**{table.title}**\n\n" + markdown_table([c.header for c in table.columns], rows, right))


FORMATS: dict[str, Callable[[Listing, TextIO], None]] = {
    "table": _table, "csv": _csv, "json": _json, "markdown": _markdown,
}


def show_listing(paths: Sequence[Path], fmt: str, warn: Callable[[str], None]) -> None:
    """Print the runs under `paths` (default: runs/) as `fmt`."""
    if not paths and not DEFAULT_RUNS.is_dir():
        raise CompareError(f"no {DEFAULT_RUNS}/ here; name a runs directory or an experiment folder: cnnlab ls PATH")
    FORMATS[fmt](Listing(load_runs(paths or [DEFAULT_RUNS], warn=warn)), sys.stdout)
