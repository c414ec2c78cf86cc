"""Which run a command means: `cnnlab eval` and `cnnlab inspect` take a run directory, or an
experiment folder with --latest / --best METRIC (eval), or a piece of a run id (both).

    runs/quickstart/20261127-041213-s0-3f9c     the run directory itself
    runs/quickstart --latest                    the completed run started last
    runs/activations --best test_acc            the finished run best on a metric (compare's names)
    runs/activations/relu-s1                    the one run whose id starts with relu-s1, or holds its
                                                parts relu and s1 (in that order) between its dashes
    runs/activations/relu --best test_acc       the best of the runs whose ids hold the part relu
A piece matches whole parts of an id: `relu` is not `leaky_relu`. It names a run of the folder it is
in, never of folders below or above it. When the choice is not one run, the error lists the
candidates (newest last).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from cnnlab.compare.load import RUN_MARKERS, Run, find_run_dirs, load_runs, no_runs_at
from cnnlab.compare.metrics import ALIASES, METRICS, CompareError
from cnnlab.registry import did_you_mean
from cnnlab.rundir.records import FINISHED
from cnnlab.util.text import plural

SHOWN = 10  # candidates listed in an error


class RunChoiceError(CompareError):
    """A run that cannot be told from what was given: one line saying so, then the candidates, one a
    line (each shown as safely as a message)."""

    def __init__(self, message: str, runs: list[Run]) -> None:
        super().__init__(message + (":" if runs else ""))
        self.lines = ([f"... {len(runs) - SHOWN} older (cnnlab ls {runs[0].path.parent})"] if len(runs) > SHOWN else [])
        self.lines += [_candidate(run) for run in runs[-SHOWN:]]

    def __str__(self) -> str:
        return "\n".join([super().__str__(), *(f"  {CompareError(line)}" for line in self.lines)])


def is_run_dir(path: Path) -> bool:
    return any((path / marker).is_file() for marker in RUN_MARKERS)


def run_paths(paths: Sequence[Path], warn: Callable[[str], None] = lambda message: None) -> list[Path]:
    """What `cnnlab inspect` reads: each path that exists as it is (a run, an experiment folder, a runs
    folder), each FOLDER/PIECE the one run it names (find_run)."""
    return [path if path.exists() else find_run(path, warn=warn) for path in paths]


def find_run(path: Path, latest: bool = False, best: str | None = None,
             warn: Callable[[str], None] = lambda message: None) -> Path:
    """The one run directory `path` (with --latest or --best METRIC) names; RunChoiceError listing
    the candidates when it names none or several."""
    if latest and best:
        raise CompareError("--latest and --best choose differently; give one of them")
    if is_run_dir(path) and not (latest or best):
        return path
    if path.is_file():
        raise CompareError(no_runs_at(path))
    if path.is_dir():
        folder, piece, found = path, "", find_run_dirs([path])
    else:
        folder, piece = path.parent, path.name
        if not folder.is_dir():
            raise CompareError(f"{path}: no such run directory or experiment folder")
        found = _runs_in(folder)
    if not found:
        where = "no runs here" if not piece else f"no such run, and {folder} holds no runs of its own"
        raise CompareError(f"{path}: {where} (a run directory holds meta.json or spec.yaml)")
    every = sorted(load_runs(found, warn=warn), key=lambda r: (r.started, r.run_id))
    runs = _matching(every, piece) if piece else every
    if not runs:
        raise RunChoiceError(f"no run in {folder} has {piece!r} in its id (a piece matches whole parts between "
                             f"dashes)", every)
    if best:
        return _best(runs, best, path).path
    if latest:
        completed = [r for r in runs if r.status == "completed"]
        if not completed:
            raise RunChoiceError(f"{path}: no completed run to take as --latest", runs)
        return completed[-1].path
    if len(runs) == 1:
        return runs[0].path
    which = f"{plural(len(runs), 'run')} in {folder} have {piece!r} in their id" if piece else \
        f"{path} holds {plural(len(runs), 'run')}"
    raise RunChoiceError(f"{which}; name one (a unique part of its id is enough: {folder}/PIECE) or add "
                         f"--latest or --best METRIC", runs)


def _runs_in(folder: Path) -> list[Path]:
    """The run directories directly in `folder` (a piece names one of them, not a run further down)."""
    try:
        return sorted(entry for entry in folder.iterdir() if entry.is_dir() and is_run_dir(entry))
    except OSError:
        return []


def _matching(runs: list[Run], piece: str) -> list[Run]:
    """The runs whose id starts with `piece`, or holds its parts (between dashes) whole and in order."""
    return [r for r in runs if r.run_id.startswith(piece) or _holds_parts(r.run_id.split("-"), piece.split("-"))]


def _holds_parts(parts: list[str], wanted: list[str]) -> bool:
    remaining = iter(parts)
    return all(any(part == want for part in remaining) for want in wanted)


def _best(runs: list[Run], metric: str, path: Path) -> Run:
    name = ALIASES.get(metric, metric)
    if name not in METRICS:
        raise CompareError(f"--best {metric}: not a metric{did_you_mean(metric, [*METRICS, *ALIASES])}; "
                           f"choose from: {', '.join(METRICS)}")
    scored = [r for r in runs if r.status in FINISHED and _finite(r.metrics.get(name))]
    if not scored:
        raise RunChoiceError(f"{path}: no finished run has {name}", runs)
    pick = max if METRICS[name].better != "low" else min
    return pick(scored, key=lambda r: r.metrics[name])


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _candidate(run: Run) -> str:
    test = run.metrics.get("test_acc")
    return f"{run.run_id}  {run.status}" + (f"  test acc {test:.2%}" if _finite(test) else "")
