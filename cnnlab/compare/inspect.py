"""What `cnnlab inspect` does: load runs and their diagnostics, show each configuration's layers at
init and at one epoch with the flags they raise, as a table, Markdown, JSON or CSV; draw one of the
figures of cnnlab.compare.figures (the depth plot, the percentiles, the histograms).

Reads files only: never imports torch (nor matplotlib unless --plot is given).
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from cnnlab.compare.diagnose import diagnose
from cnnlab.compare.figures import DEFAULT_FIGURE, FIGURES, FigureRequest
from cnnlab.compare.find import run_paths
from cnnlab.compare.flags import LayerStats
from cnnlab.compare.load import load_runs
from cnnlab.compare.metrics import CompareError
from cnnlab.compare.query import format_plain
from cnnlab.compare.views import View, build_views
from cnnlab.util.table import Column, TextTable, print_table
from cnnlab.util.terminal import console_for
from cnnlab.util.text import markdown_table, plural

COLUMNS: dict[str, str] = {
    "units": "units",
    "distinct_units": "distinct",
    "act_mean": "act mean",
    "act_std": "act std",
    "dead_fraction": "dead",
    "saturated_fraction": "saturated",
    "weight_norm": "‖W‖",
    "grad_rms": "∇ per weight",
    "grad_norm": "‖∇‖",
    "update_ratio": "update",
}
"""The statistics a table shows (statistic → header), in order; a column no layer has is left out."""

LEGEND = ("act: the layer's output after its activation, on the probe batch; dead: units that never fire; "
          "saturated: outputs where the slope is below 10% of its maximum; ∇: the probe loss's gradient "
          "w.r.t. the weight (per weight: RMS); update: ‖ΔW‖/‖W‖ since the previous record")


def show_inspection(paths: Sequence[Path], *, epoch: int | None, fmt: str, plot: Path | None,
                    warn: Callable[[str], None], view: str | None = None, layers: Sequence[str] = ()) -> None:
    """Print the diagnostics of the runs under `paths` as `fmt`; draw the figure `view` (default:
    depth) of `layers` (default: all) into `plot` if given."""
    if plot is None and (view is not None or layers):
        option = "--view" if view is not None else "--layers"
        raise CompareError(f"{option} chooses what --plot draws: give --plot FILE")
    if plot is not None:
        from cnnlab.compare.plot import check_plot_path  # matplotlib only when a plot is asked for

        check_plot_path(plot)
    runs = load_runs(run_paths(paths, warn), warn=warn)
    diagnosed, keys = diagnose(runs, warn)
    views = build_views(diagnosed, keys, epoch)
    if plot is not None:  # before printing: a figure that cannot be drawn is an error, not a half answer
        request = FigureRequest(runs, views, _title(views, runs), warn, epoch, layers)
        FIGURES[view or DEFAULT_FIGURE](request, plot)
    FORMATS[fmt](views, sys.stdout)
    if plot is not None:
        print(f"wrote {plot}", file=sys.stderr)


def _title(views: Sequence[View], runs: Sequence) -> str:
    names = sorted({str(run.config.get("name", "")) for run in runs} - {""})
    what = names[0] if len(names) == 1 else "runs"
    return f"{what}: {plural(len(views), 'configuration')} ({plural(len(runs), 'run')})"


# ------------------------------------------------------------------------------------------- cells


COUNTS = frozenset({"units", "distinct_units"})
"""Statistics that count units: a mean over seeds (63.5 distinct units) is no count, so they show as
the one count every run has, or the range of the runs' counts (63–64)."""


def cell(statistic: str, layer: LayerStats) -> str:
    value = layer.values.get(statistic)
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    if statistic in COUNTS:
        low, high = layer.low[statistic], layer.high[statistic]
        return f"{low:.0f}" if low == high else f"{low:.0f}–{high:.0f}"
    if statistic.endswith("_fraction"):
        return f"{value:.0%}"
    return f"{value:.3g}"


def _columns(layers: Sequence[LayerStats]) -> list[str]:
    return [s for s in COLUMNS if any(s in layer.values for layer in layers)]


def _rows(layers: Sequence[LayerStats], columns: Sequence[str]) -> list[list[str]]:
    return [[layer.layer, layer.activation, *(cell(s, layer) for s in columns)] for layer in layers]


def _heading(epoch: int) -> str:
    return "at init" if epoch == 0 else f"after epoch {epoch}"


# ------------------------------------------------------------------------------------------ formats


def render_table(views: Sequence[View], stream: TextIO) -> None:
    """Per configuration, a table of its layers at init and at the chosen epoch (cnnlab.util.table),
    each followed by the flags it raises."""
    console = console_for(stream)
    for i, view in enumerate(views):
        console.print(("\n" if i else "") + view.label, style="bold", markup=False)
        for epoch in view.epochs:
            layers = view.diagnosed.at(epoch)
            columns = _columns(layers)
            rows = _rows(layers, columns)
            headers = ["layer", "activation", *(COLUMNS[s] for s in columns)]
            table = [Column(header, [row[j] for row in rows], "right" if j >= 2 else "left")
                     for j, header in enumerate(headers)]
            print_table(TextTable(table, title=_heading(epoch)), console)
            for flag in view.flags(epoch):
                console.print(f"  ⚑ {flag.text}", style="yellow", markup=False)
    console.print(LEGEND, style="dim", markup=False)


def render_markdown(views: Sequence[View], stream: TextIO) -> None:
    for view in views:
        stream.write(f"### {view.label}\n\n")
        for epoch in view.epochs:
            layers = view.diagnosed.at(epoch)
            columns = _columns(layers)
            stream.write(f"**{_heading(epoch)}**\n\n")
            stream.write(markdown_table(["layer", "activation", *(COLUMNS[s] for s in columns)],
                                        _rows(layers, columns), [False, False, *([True] * len(columns))]))
            stream.write("".join(f"- {flag.text}\n" for flag in view.flags(epoch)))
            stream.write("\n")
    stream.write(f"{LEGEND}.\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return list(value) if isinstance(value, tuple) else value


def documents(views: Sequence[View]) -> list[dict[str, Any]]:
    """One object per configuration: its keys, runs, and per shown epoch the layers and the flags."""
    out = []
    for view in views:
        out.append({
            "label": view.label,
            "config": {k: _json_value(v) for k, v in view.config.items()},
            "n": len(view.diagnosed.runs),
            "runs": [str(run.path) for run in view.diagnosed.runs],
            "epochs": {
                str(epoch): {
                    "layers": [{"layer": s.layer, "depth": s.depth, "activation": s.activation,
                                **{k: _json_value(v) for k, v in s.values.items()}}
                               for s in view.diagnosed.at(epoch)],
                    "flags": [{"kind": f.kind, "layer": f.layer, "value": _json_value(f.value), "text": f.text}
                              for f in view.flags(epoch)],
                }
                for epoch in view.epochs
            },
        })
    return out


def render_json(views: Sequence[View], stream: TextIO) -> None:
    json.dump(documents(views), stream, indent=1, ensure_ascii=False, allow_nan=False)
    stream.write("\n")


def render_csv(views: Sequence[View], stream: TextIO) -> None:
    """Tidy: one line per configuration × epoch × layer × statistic (seed-aggregated), keys first."""
    keys = list(views[0].config) if views else []
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([*keys, "n", "epoch", "layer", "depth", "activation", "statistic", "value"])
    for view in views:
        prefix = ["" if view.config[k] is None else format_plain(view.config[k]) for k in keys]
        prefix.append(len(view.diagnosed.runs))
        for epoch in view.epochs:
            for s in view.diagnosed.at(epoch):
                for statistic, value in s.values.items():
                    writer.writerow([*prefix, epoch, s.layer, s.depth, s.activation, statistic, repr(value)])


FORMATS: dict[str, Callable[[Sequence[View], TextIO], None]] = {
    "table": render_table,
    "markdown": render_markdown,
    "json": render_json,
    "csv": render_csv,
}
