"""Opening a run before anything slow: its exclusive claim, then a new run directory with spec.yaml
and a `running` meta.json, or a stopped run directory reopened to continue it."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.run.ending import failure_reason
from cnnlab.run.existing import completed_runs
from cnnlab.run.outcome import Outcome
from cnnlab.run.provenance import git_commit, versions
from cnnlab.run.saved import read_run_meta, read_run_spec
from cnnlab.rundir.claim import ClaimHeld, RunClaim
from cnnlab.rundir.folders import RunDirError, experiment_dir
from cnnlab.rundir.ids import make_run_id
from cnnlab.rundir.liveness import now_iso, observed_status
from cnnlab.rundir.records import RESUMABLE, Resumption, RunMeta
from cnnlab.rundir.store import RunStore
from cnnlab.spec import RunSpec
from cnnlab.spec.identity import canonical, differences, identity_key, result_differences


def take_claim(run: RunSpec, runs_dir: Path, resume: Path | None = None) -> RunClaim | Outcome:
    """The run's exclusive claim among the runs under `runs_dir`, or the outcome that says why it
    cannot be had (skipped: another process trains it now)."""
    try:
        experiment_dir(runs_dir, run.name)  # refused when runs/<name> leads outside
        return RunClaim.acquire(Path(runs_dir).resolve(), _claim_key(run, resume))
    except ClaimHeld as held:
        return Outcome("skipped", None, None, f"another cnnlab process is training it now ({held.holder})")
    except (CnnlabError, OSError) as err:
        return Outcome("failed", None, None, str(err) if isinstance(err, CnnlabError) else failure_reason(err))


def _claim_key(run: RunSpec, resume: Path | None) -> str:
    """The run's identity: its resolved spec, as recorded in spec.yaml when it is resumed (the resume
    may change result-neutral keys, and must still meet the process that may be running it)."""
    return identity_key(run.resolved() if resume is None else read_run_spec(Path(resume)))


def create_run(run: RunSpec, runs_dir: Path, command: str, force: bool) -> RunStore | Outcome:
    """A new run directory with spec.yaml and a `running` meta.json; nothing is left when they cannot
    be written (a full disk, no permission)."""
    if not force and (done := completed_meanwhile(run, runs_dir)) is not None:
        return done
    store = RunStore.create(runs_dir, run.name,
                            lambda: make_run_id(run.labels.values(), run.set_labels.values(), run.seed))
    try:
        store.write_yaml("spec.yaml", run.resolved())
        store.write("meta.json", RunMeta(
            status="running", run_id=store.path.name, name=run.name, started=now_iso(), seed=run.seed,
            swept=run.swept, versions=versions(), host=platform.node(), pid=os.getpid(), heartbeat=now_iso(),
            git_commit=git_commit(Path.cwd()), command=command,
        ))
    except OSError as err:
        shutil.rmtree(store.path, ignore_errors=True)
        raise RunDirError(f"cannot write a new run's files under {store.path.parent} "
                          f"({failure_reason(err)}); nothing was trained") from None
    return store


def completed_meanwhile(run: RunSpec, runs_dir: Path) -> Outcome | None:
    """`skipped`, when a completed directory of the same run (cnnlab.spec.identity) appeared since the
    plan was made: checked under the run's claim, so no other process can complete it after."""
    done = completed_runs(experiment_dir(runs_dir, run.name)).get(canonical(run.resolved()))
    return None if done is None else Outcome("skipped", done, None, "already completed (by another process, meanwhile)")


def reopen_run(path: Path, run: RunSpec, command: str) -> RunStore | Outcome:
    """A run directory to continue: `running` again under this process, with the resumption recorded
    (and the result-neutral keys, such as train.threads, that it continues with differently)."""
    meta = read_run_meta(path)
    status = observed_status(meta)
    if status not in RESUMABLE:
        return Outcome("skipped", path, None, f"{status} meanwhile; nothing to resume")
    recorded, resolved = read_run_spec(path), run.resolved()
    if changed := result_differences(recorded, resolved):
        return Outcome("failed", path, None, f"{changed[0]}: differs from the run's spec.yaml; it cannot resume")
    neutral = {key: value_at(resolved, key) for key in differences(recorded, resolved)}
    resumption = Resumption(at=now_iso(), status=status, host=platform.node(), pid=os.getpid(), command=command,
                            changed=neutral)
    store = RunStore(path)
    store.remove_temp_files()  # of writes its last process never finished (a SIGKILL mid-checkpoint)
    store.update_meta(status="running", ended=None, error=None, failed_rank=None, host=platform.node(), pid=os.getpid(),
                      heartbeat=now_iso(), resumptions=[*meta.resumptions, resumption])
    return store


def value_at(data: dict[str, Any], dotted: str) -> Any:
    """The value of a dotted key (`train.threads`) in a nested mapping; None where a part is missing."""
    for part in dotted.split("."):
        data = data.get(part) if isinstance(data, dict) else None
    return data


def recorded_precision(store: RunStore) -> str | None:
    """The precision a stopped run trained in, which its resume continues in; None when it stopped
    before training began (its spec's train.precision then decides, as for a new run)."""
    compute = store.read_meta().compute
    return compute.precision if compute is not None else None
