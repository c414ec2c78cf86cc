"""What `cnnlab compare` does: load the runs, build the comparison, render it, plot it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cnnlab.compare.bands import DEFAULT_BAND
from cnnlab.compare.build import build_comparison
from cnnlab.compare.load import DEFAULT_RUNS, load_runs
from cnnlab.compare.metrics import CompareError, parse_columns
from cnnlab.compare.render import FORMATS


def show_comparison(paths: Sequence[Path], *, where: Sequence[str], sort: str | None, ascending: bool,
                    top: int | None, metrics: str | None, fmt: str, aggregate: bool | None, all_params: bool,
                    plot: Path | None, warn: Callable[[str], None], band: str = DEFAULT_BAND) -> None:
    """Print the comparison of the runs under `paths` (default: runs/) as `fmt`; draw `plot` if given,
    with `band` across seeds (cnnlab.compare.bands)."""
    if plot is not None:
        from cnnlab.compare import plot as plotting  # matplotlib only when a plot is asked for

        plotting.check_plot_path(plot)
    if not paths and not DEFAULT_RUNS.is_dir():
        raise CompareError(f"no {DEFAULT_RUNS}/ here; name run, sweep or runs directories: cnnlab compare PATH...")
    runs = load_runs(paths or [DEFAULT_RUNS], warn=warn)
    comparison = build_comparison(runs, where=where, sort=sort, ascending=ascending, top=top,
                                  columns=parse_columns(metrics), aggregate=aggregate, all_params=all_params)
    FORMATS[fmt](comparison, sys.stdout)
    if plot is not None:
        plotting.plot_curves(comparison, plot, band)
        print(f"wrote {plot}", file=sys.stderr)
