"""`cnnlab.train`: what `cnnlab train` does, from Python. The request is planned and trained by the
command's own planner and schedulers (cnnlab.run.launch.train_request); what comes back is the runs
of the plan, trained, resumed or skipped as completed, as Run views."""

from __future__ import annotations

import json
import signal
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from cnnlab.api.runs import Run
from cnnlab.errors import UsageError


def train(spec_or_path: str | PathLike | Mapping[str, Any], *, overrides: Sequence[str] | Mapping[str, Any] = (),
          runs_dir: str | PathLike = "runs", jobs: int = 1, force: bool = False, fail_fast: bool = False,
          resume: bool = False, shard: str | None = None, until_decided: bool = False, max_seeds: int = 10,
          quiet: bool = False) -> list[Run]:
    """Train every run of an experiment (its sweep × seeds) into runs_dir/<name>/<run-id>/, as
    `cnnlab train` does, and return its runs in the sweep's order: those trained now and those that had
    completed already (skipped, unless `force`).

    `spec_or_path`: a spec file, a spec as a mapping (what the YAML file would hold), or with
    `resume=True` a run directory to continue. `overrides`: `key=value` strings as --set takes them,
    or a mapping {key: value}. The other options are the command's (--jobs, --force, --fail-fast,
    --resume, --shard I/N, --until-decided, --max-seeds); `quiet` prints nothing. A mistake raises the
    CnnlabError whose message the command prints; SIGINT (a notebook's interrupt) stops as Ctrl-C
    stops the command, every run keeping a true status, and raises KeyboardInterrupt."""
    from cnnlab.run.launch import train_request  # the training side, torch included, only now
    from cnnlab.run.request import TrainRequest
    from cnnlab.spec.shard import parse_shard
    from cnnlab.util.terminal import make_console

    if isinstance(spec_or_path, Mapping):
        target, spec = None, spec_or_path
    elif isinstance(spec_or_path, (str, PathLike)):
        target, spec = Path(spec_or_path), None
    else:
        raise UsageError(f"cnnlab.train: expected a spec file, a spec mapping or a run directory, got "
                         f"{type(spec_or_path).__name__}")
    request = TrainRequest(target, _overrides(overrides), Path(runs_dir), jobs=jobs, force=force, fail_fast=fail_fast,
                           resume=resume, shard=parse_shard(shard) if shard is not None else None,
                           until_decided=until_decided, max_seeds=max_seeds, spec=spec)
    console = make_console()
    console.quiet = quiet
    trained = train_request(console, request)
    if trained.signum is not None:
        raise KeyboardInterrupt(f"interrupted by {signal.Signals(trained.signum).name}")
    return [Run(path) for path in dict.fromkeys(trained.tally.dirs)]


def _overrides(overrides: Sequence[str] | Mapping[str, Any]) -> tuple[str, ...]:
    """--set's `key=value` texts; a mapping's values written as JSON, which YAML reads back as they were."""
    if isinstance(overrides, str):
        return (overrides,)
    if isinstance(overrides, Mapping):
        return tuple(f"{key}={json.dumps(value)}" for key, value in overrides.items())
    return tuple(overrides)
