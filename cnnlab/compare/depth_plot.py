"""The lecture's vanishing-gradient picture from a user's own runs: gradient per weight and activation
std against layer depth, at init and at one epoch, one line per configuration in its look
(cnnlab.compare.styles; both axes of value on a log scale). inspect's default view; imported only
when drawing; matplotlib's object API with the Agg canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator

from cnnlab.compare.plot import MAX_LINES, add_legend, legend_layout, write_figure
from cnnlab.compare.styles import Looks, Style
from cnnlab.compare.views import View

PANELS = (("grad_rms", "gradient per weight (RMS, log)"), ("act_std", "activation std (log)"))
FLOOR_FACTOR = 0.1  # zeros (a zero-initialized layer) are drawn this far below the smallest value shown


def plot_depth(views: Sequence[View], path: Path, title: str, looks: Looks) -> None:
    """A 2×2 figure: rows are the statistics of PANELS, columns are init and the chosen epoch."""
    shown = list(views[:MAX_LINES])
    if len(views) > MAX_LINES:
        title += f" — plotted: the first {MAX_LINES} of {len(views)} configurations"
    labels = [view.label for view in shown]
    styles = [looks.of(view.diagnosed.runs) for view in shown]
    epochs = sorted({view.epoch for view in shown})
    later = f"after epoch {epochs[0]}" if len(epochs) == 1 else "after the last recorded epoch"
    fig = Figure(figsize=(12, 8.2 + 0.25 * legend_layout(labels)[1]), layout="constrained")
    axes = fig.subplots(2, 2, sharex=True)
    several = any(len(view.diagnosed.runs) > 1 for view in shown)
    zeros = False
    for row, (statistic, ylabel) in enumerate(PANELS):
        for column, (which, name) in enumerate(((lambda v: 0, "at init"), (lambda v: v.epoch, later))):
            ax = axes[row][column]
            zeros |= _panel(ax, shown, styles, statistic, which, several)
            ax.set_title(f"{ylabel.split(' (')[0]}, {name}", fontsize=11)
            ax.set_ylabel(ylabel)
            ax.grid(True, which="both", alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("layer (depth)")
    _layer_ticks(axes[1], shown)
    notes = ["line: geometric mean over seeds, band: min–max"] if several else []
    if zeros:
        notes.append("open markers on the bottom edge: exactly 0")
    fig.suptitle(title + ("\n" + "; ".join(notes) if notes else ""), fontsize=12)
    add_legend(fig, styles, labels, "")
    write_figure(fig, path)


def _panel(ax, views: Sequence[View], styles: Sequence[Style], statistic: str, which, several: bool) -> bool:
    """Draw one statistic against depth for every view; True when some values were zero."""
    series = []
    for view in views:
        layers = view.diagnosed.at(which(view))
        points = [(s.depth, s.values.get(statistic), s.low.get(statistic), s.high.get(statistic)) for s in layers]
        series.append([p for p in points if p[1] is not None])
    positive = [v for points in series for _, m, lo, _ in points for v in (m, lo) if v > 0]
    floor = min(positive) * FLOOR_FACTOR if positive else 1e-12
    zeros = False
    for points, style in zip(series, styles, strict=True):
        if not points:
            continue
        depths = [d for d, *_ in points]
        means = [max(m, floor) for _, m, _, _ in points]
        ax.plot(depths, means, **style.line())
        flat = [(d, floor) for d, m, _, _ in points if m <= 0]
        if flat:
            zeros = True
            ax.plot(*zip(*flat, strict=True), linestyle="none", marker="o", markersize=7, markerfacecolor="none",
                    color=style.colour, zorder=style.zorder)
        if several:
            ax.fill_between(depths, [max(lo, floor) for _, _, lo, _ in points],
                            [max(hi, floor) for *_, hi in points], color=style.colour, alpha=0.15, linewidth=0)
    ax.set_yscale("log")
    return zeros


def _layer_ticks(axes, views: Sequence[View]) -> None:
    """Layer names under the depth axis when every configuration has the same layers (else numbers)."""
    names = {tuple(s.layer for s in view.diagnosed.at(0)) for view in views}
    if len(names) != 1:
        return
    layers = next(iter(names))
    step = max(1, len(layers) // 12)  # at most a dozen names fit under a panel
    ticks = list(range(1, len(layers) + 1, step))
    for ax in axes:
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticklabels([layers[t - 1] for t in ticks], rotation=45, ha="right", fontsize=8)
