"""What `cnnlab train` is asked to do, as one typed request: the planner's input (cnnlab.run.plan)
and what every run records of the command that made it. Made once from the command line (or from
Python), checked on creation, never changed. Torch-free."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.errors import UsageError
from cnnlab.spec.shard import Shard


@dataclass(frozen=True)
class RayOptions:
    """What `--backend ray` was given; None: decided when the cluster is known (see `cnnlab train --help`)."""

    address: str | None = None  # None: a local Ray instance, started and stopped by this command
    cpus_per_run: int | None = None
    gpus_per_run: float | None = None
    ship: bool | None = None  # None: ship when some node does not see the runs directory

    def args(self) -> list[str]:
        """The options as `cnnlab train` takes them."""
        out = ["--backend", "ray"]
        if self.address:
            out += ["--address", self.address]
        if self.cpus_per_run is not None:
            out += ["--cpus-per-run", str(self.cpus_per_run)]
        if self.gpus_per_run is not None:
            out += ["--gpus-per-run", f"{self.gpus_per_run:g}"]
        if self.ship is not None:
            out.append("--ship" if self.ship else "--no-ship")
        return out


@dataclass(frozen=True)
class TrainRequest:
    """`cnnlab train TARGET [options]`: an experiment spec to train (or, with `resume`, a run
    directory to continue), how, and where. From Python (cnnlab.train) the spec may be a mapping
    already read instead of a file."""

    target: Path | None  # EXP.yaml, or with `resume` a run directory; None when `spec` is given
    overrides: tuple[str, ...] = ()  # `key.path=value`, applied in order
    runs_dir: Path = Path("runs")
    dry_run: bool = False  # plan and show; train nothing
    jobs: int = 1  # runs at a time on this machine, in as many worker processes
    force: bool = False  # train again the runs that completed
    fail_fast: bool = False  # stop at the first failed run
    resume: bool = False  # continue stopped runs from their last checkpoint
    shard: Shard | None = None  # train only this shard of the sweep
    ray: RayOptions | None = None  # run every run as a Ray task (--backend ray)
    until_decided: bool = False  # add seeds in rounds where a claim is undecided (cnnlab.run.until_decided)
    max_seeds: int = 10  # ... until every configuration a claim names has this many
    seeds: tuple[int, ...] | None = None  # these seeds instead of the spec's (a round of --until-decided)
    only: tuple[dict, ...] | None = None  # only the sweep combinations with these swept values (the same)
    spec: Mapping[str, Any] | None = None  # the experiment spec as a mapping, instead of a file (cnnlab.train)

    def __post_init__(self) -> None:
        if self.target is None and self.spec is None:
            raise UsageError("missing EXP.yaml (or, with --resume, a run directory)")
        if self.spec is not None and (self.target is not None or self.resume):
            raise UsageError("a spec mapping stands for the experiment file: give no target with it, and resume "
                             "its runs by their spec file or run directory")
        if self.jobs < 1:
            raise UsageError(f"--jobs {self.jobs}: at least 1 run at a time")
        if self.ray is not None and self.jobs > 1:
            raise UsageError("--jobs does not apply with --backend ray: Ray runs as many at once as the cluster "
                             "holds (--cpus-per-run, --gpus-per-run each)")
        if self.until_decided and self.shard is not None:
            raise UsageError("--until-decided with --shard: one shard cannot decide the claims alone; add seeds "
                             "to the whole sweep (without --shard), or train every shard and read cnnlab report")
        if self.max_seeds < 2:
            raise UsageError(f"--max-seeds {self.max_seeds}: a claim needs at least 2 seeds per group")

    @property
    def source(self) -> str:
        """What the runs are made from, as messages name it."""
        return "the spec mapping" if self.spec is not None else str(self.target)

    @property
    def backend(self) -> str:
        return "local" if self.ray is None else "ray"

    def command(self, with_shard: bool = True) -> list[str]:
        """The `cnnlab train` invocation that makes these runs, as each run's meta.json records it;
        sweep.yaml records it without --shard (every shard of a sweep records the same)."""
        head = ["cnnlab.train(<spec mapping>)"] if self.spec is not None else ["cnnlab", "train", str(self.target)]
        line = [*head, *(arg for item in self.overrides for arg in ("--set", item))]
        if self.runs_dir != Path("runs"):
            line += ["--runs-dir", str(self.runs_dir)]
        if self.jobs > 1:
            line.append(f"--jobs={self.jobs}")
        for flag, given in (("--force", self.force), ("--fail-fast", self.fail_fast), ("--resume", self.resume)):
            if given:
                line.append(flag)
        if self.until_decided:
            line += ["--until-decided", f"--max-seeds={self.max_seeds}"]
        if self.ray is not None:
            line += self.ray.args()
        if with_shard and self.shard is not None:
            line += ["--shard", str(self.shard)]
        return line
