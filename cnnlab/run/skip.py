"""Re-running an experiment: skip what is done, and record the sweep.

A run is "done" when a directory of the same experiment holds the same resolved spec with status
completed; failed, interrupted and diverged runs are run again (into a new directory, the old one is
kept).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cnnlab.rundir.records import RecordError, RunMeta, SweepRecord, read_json_record, read_text
from cnnlab.spec import Spec
from cnnlab.util.files import write_text_atomic
from cnnlab.util.yamlio import dump_yaml, load_yaml

SWEEP_FILE = "sweep.yaml"


def completed_specs(experiment_dir: Path) -> dict[str, Path]:
    """Resolved spec (as canonical JSON) → run directory, for every completed run of an experiment."""
    done: dict[str, Path] = {}
    for meta_path in sorted(experiment_dir.glob("*/meta.json")):
        try:
            if read_json_record(meta_path, RunMeta).status != "completed":
                continue
            spec = load_yaml(read_text(meta_path.parent / "spec.yaml"))
        except (RecordError, yaml.YAMLError):
            continue  # unreadable or partial: not done
        done[canonical(spec)] = meta_path.parent
    return done


def canonical(resolved: dict[str, Any]) -> str:
    return json.dumps(resolved, sort_keys=True)


def split_done(runs: list[Spec], runs_dir: Path, force: bool) -> tuple[list[Spec], list[tuple[Spec, Path]]]:
    """(runs to do, [(skipped run, its completed directory)])."""
    if force or not runs:
        return runs, []
    done = completed_specs(Path(runs_dir) / runs[0].name)
    todo, skipped = [], []
    for run in runs:
        found = done.get(canonical(run.resolved()))
        if found is None:
            todo.append(run)
        else:
            skipped.append((run, found))
    return todo, skipped


def write_sweep_record(spec: Spec, runs_dir: Path, command: str | None = None) -> Path:
    """runs/<name>/sweep.yaml: the experiment as written (with --set applied), so that `compare` can
    show the sweep as a unit and `report` can check its claims."""
    path = Path(runs_dir) / spec.name / SWEEP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    record = SweepRecord(name=spec.name, sweep=spec.sweep, seeds=spec.seeds, description=spec.description,
                         claims=spec.claims, command=command, spec=spec.resolved())
    write_text_atomic(path, dump_yaml(record.model_dump(mode="json")))
    return path
