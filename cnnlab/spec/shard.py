"""`--shard I/N`: the runs of a sweep that one of N processes trains (a Slurm job array's task, one
machine of several), so that the N shards together train every run once.

Shards are numbered from 1 to N, as `sbatch --array=1-N` numbers its tasks. A run's shard follows
from the run alone: the runs are ordered by their identity (cnnlab.spec.identity, a digest of the
resolved spec) and dealt out in turn, so every process given the same sweep computes the same
split whatever order the YAML lists its keys, values and seeds in, shard sizes differ by at most
one, and runs that cost alike (neighbours in the sweep) land on different shards. Adding or
removing runs deals the runs anew; that stays safe, because the exclusive run claim keeps two
processes from training one run and completed runs are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cnnlab.errors import UsageError
from cnnlab.spec.experiment import RunSpec
from cnnlab.spec.identity import identity_key


@dataclass(frozen=True)
class Shard:
    index: int  # 1 .. count
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """`2/4` → Shard(2, 4); a UsageError naming the option for anything else."""
    match = re.fullmatch(r"\s*(-?\d+)\s*/\s*(-?\d+)\s*", text)
    if match is None:
        raise UsageError(f"--shard {text}: expected I/N, e.g. --shard 2/4 for the second of 4 shards")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1:
        raise UsageError(f"--shard {text}: the number of shards must be at least 1")
    if not 1 <= index <= count:
        hint = f" (a 0-based array index i: --shard $((i + 1))/{count})" if index == 0 else ""
        raise UsageError(f"--shard {text}: shards are numbered from 1 to {count}{hint}")
    return Shard(index, count)


def select_shard(runs: list[RunSpec], shard: Shard) -> list[RunSpec]:
    """The runs of `shard`, in the sweep's order."""
    dealt = sorted(range(len(runs)), key=lambda i: identity_key(runs[i].resolved()))
    mine = set(dealt[shard.index - 1::shard.count])
    return [run for i, run in enumerate(runs) if i in mine]
