"""The planner of `cnnlab train`: a TrainRequest in, a Plan out.

The plan says which runs the command stands for, in the sweep's order; for each, whether it trains
into a new run directory, continues a stopped one (`--resume`) or is skipped because it completed
already; and everything the runs need to know of the command. Every mistake the request alone
shows is found here, before any run directory exists. The planner only reads (the spec file, the
runs directory): it prints nothing, writes nothing, changes none of its arguments and imports no
torch, so `--dry-run` is the plan printed (cnnlab.run.dry_run), and the schedulers, the until-decided
loop and the Python API all start from the same plan.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.resolve import check_available
from cnnlab.errors import UsageError
from cnnlab.run.existing import completed_runs, runs_by_status
from cnnlab.run.preflight import preflight
from cnnlab.run.request import TrainRequest
from cnnlab.run.resume import resume_spec
from cnnlab.run.saved import is_run_dir
from cnnlab.rundir.checkpoint_file import check_last
from cnnlab.rundir.claim import claims_folder
from cnnlab.rundir.folders import experiment_dir
from cnnlab.rundir.records import RESUMABLE, SweepRecord
from cnnlab.spec import Experiment, RunSpec, expand_runs, load_experiment
from cnnlab.spec.identity import canonical
from cnnlab.spec.shard import Shard, select_shard


@dataclass(frozen=True)
class PlannedRun:
    """One run of the plan."""

    run: RunSpec
    resume: Path | None = None  # the stopped run directory it continues (--resume); None: a new one
    completed: Path | None = None  # where it completed already: skipped

    @property
    def label(self) -> str:
        return self.run.label()


@dataclass(frozen=True)
class Plan:
    """What `cnnlab train` will do."""

    name: str  # the experiment's: its runs go to runs_dir/name/
    runs_dir: Path  # where the runs go, and their claims are taken
    runs: tuple[PlannedRun, ...]  # the runs the command stands for, in the sweep's order
    command: tuple[str, ...]  # the invocation each run's meta.json records
    device: str = "auto"  # the device the spec names outside its sweep (checked before any run)
    force: bool = False  # train even runs that completed meanwhile
    warnings: tuple[str, ...] = ()  # what the runs' layers call for, each once
    shard: Shard | None = None
    sweep_size: int = 0  # the whole sweep's runs (a shard plans some of them)
    record: SweepRecord | None = None  # runs/<name>/sweep.yaml, for an experiment with a sweep, seeds or claims
    experiment: Experiment | None = None  # None: a run directory resumed

    @property
    def total(self) -> int:
        return len(self.runs)

    @property
    def todo(self) -> tuple[PlannedRun, ...]:
        """The runs to train, in order."""
        return tuple(r for r in self.runs if r.completed is None)

    @property
    def skipped(self) -> tuple[PlannedRun, ...]:
        return tuple(r for r in self.runs if r.completed is not None)

    @property
    def folder(self) -> Path:
        """runs_dir/name: where the runs' directories are."""
        return self.runs_dir / self.name


def plan(request: TrainRequest) -> Plan:
    """The plan of `request`; a CnnlabError (one line) for anything that makes it impossible."""
    if request.spec is not None:
        return _train_an_experiment(request, Experiment.of(dict(request.spec), request.overrides))
    target = Path(request.target)
    if is_run_dir(target) or (request.resume and target.is_dir()):
        return _resume_a_run(request, target)
    return _train_an_experiment(request, load_experiment(target, request.overrides))


def _resume_a_run(request: TrainRequest, target: Path) -> Plan:
    """`cnnlab train --resume RUN`: that run, continued where it is."""
    if not request.resume:
        raise UsageError(f"{target} is a run directory; to continue it: cnnlab train --resume {target}")
    used = [name for name, given in (("dry-run", request.dry_run), ("force", request.force),
                                     ("shard", request.shard is not None), ("until-decided", request.until_decided))
            if given]
    if used:
        raise UsageError(f"--{used[0]} does not apply to resuming a run directory")
    run = resume_spec(target, list(request.overrides))
    check_last(target)  # a damaged last.pt: one line now, and the run keeps its status
    warnings = preflight([run])
    check_available(run.spec.data)
    path = target.resolve()
    claims_folder(path.parent.parent)  # refused when runs/.claims leads outside
    return Plan(name=run.name, runs_dir=path.parent.parent, runs=(PlannedRun(run, resume=path),),
                command=tuple(request.command()), device=run.spec.train.device, warnings=tuple(warnings),
                sweep_size=1)


def _train_an_experiment(request: TrainRequest, experiment: Experiment) -> Plan:
    """`cnnlab train EXP.yaml`: every run of its sweep (or of one shard), minus those that completed."""
    spec = experiment.spec
    runs = expand_runs(experiment, request.seeds)
    if request.only is not None:
        runs = [run for run in runs if run.swept in request.only]
    warnings = preflight(runs)
    sweep_size = len(runs)
    if request.shard is not None:
        runs = select_shard(runs, request.shard)
    folder = experiment_dir(request.runs_dir, spec.name)  # refused when runs/<name> leads outside
    claims_folder(request.runs_dir)  # and when runs/.claims does
    for data in {run.spec.data.model_dump_json(): run.spec.data for run in runs}.values():
        check_available(data)  # absent files with download off: one line now, not a failed run later
    done = completed_runs(folder) if not request.force else {}
    stopped = runs_by_status(folder, RESUMABLE) if request.resume else {}
    planned = []
    for run in runs:
        key = canonical(run.resolved())
        completed = done.get(key)
        resume = None if completed else stopped.get(key)
        if resume is not None:
            check_last(resume)
        planned.append(PlannedRun(run, resume=resume, completed=completed))
    record = None
    if spec.sweep or spec.seeds or spec.claims or spec.description:
        record = SweepRecord(name=spec.name, sweep=spec.sweep, seeds=spec.seeds, description=spec.description,
                             claims=spec.claims, command=shlex.join(request.command(with_shard=False)),
                             spec=spec.resolved())
    return Plan(name=spec.name, runs_dir=request.runs_dir, runs=tuple(planned), command=tuple(request.command()),
                device=spec.train.device, force=request.force, warnings=tuple(warnings), shard=request.shard,
                sweep_size=sweep_size, record=record, experiment=experiment)
