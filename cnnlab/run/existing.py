"""What the runs directory already holds of an experiment: its completed runs (skipped when the
experiment is trained again), its stopped ones (continued by `--resume`), and sweep.yaml.

A run is "done" when a directory of the same experiment holds the same run (cnnlab.spec.identity:
the same resolved spec) with status completed. Failed, interrupted, stale and diverged runs are run
again, into a new directory (the old one is kept), or with `--resume` the interrupted, failed and
stale ones continue where they stopped. Torch-free; reads only.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.rundir.folders import experiment_dir
from cnnlab.rundir.liveness import observed_status
from cnnlab.rundir.records import NewerRecord, RecordError, RunMeta, SweepRecord, read_json_record, read_text
from cnnlab.spec.identity import canonical
from cnnlab.util.files import write_text_atomic
from cnnlab.util.yamlio import YamlError, dump_yaml, load_yaml

SWEEP_FILE = "sweep.yaml"


def runs_by_status(experiment: Path, wanted: frozenset[str]) -> dict[str, Path]:
    """Run identity (canonical JSON) → run directory, for the runs of an experiment whose observed
    status is in `wanted`; the newest directory where several hold the same run. A run written by a
    newer cnnlab stops the plan (NewerRecord): this one cannot tell whether it is done."""
    found: dict[str, Path] = {}
    for meta_path in sorted(experiment.glob("*/meta.json")):  # run ids start with the time: oldest first
        try:
            if observed_status(read_json_record(meta_path, RunMeta)) not in wanted:
                continue
            spec = load_yaml(read_text(meta_path.parent / "spec.yaml"))
        except NewerRecord:
            raise
        except (RecordError, YamlError):
            continue  # unreadable or partial: not done
        if isinstance(spec, dict):
            found[canonical(spec)] = meta_path.parent
    return found


def completed_runs(experiment: Path) -> dict[str, Path]:
    """Run identity → directory, for every completed run of an experiment."""
    return runs_by_status(experiment, frozenset({"completed"}))


def write_sweep_record(record: SweepRecord, runs_dir: Path) -> Path:
    """runs/<name>/sweep.yaml: the experiment as written (with --set applied), so that `compare` can
    show the sweep as a unit and `report` can check its claims."""
    path = experiment_dir(runs_dir, record.name) / SWEEP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, dump_yaml(record.model_dump(mode="json")))
    return path
