"""Ioffe & Szegedy's picture (2015, Fig. 1 b, c) from a user's own runs: the percentiles of each
layer's pre-activation (the input of its nonlinearity) and activation against training steps, one
panel per layer and quantity, one look per configuration (cnnlab.compare.styles): the median as a
line, the 15th–85th percentiles as a band, the 2nd and 98th as thin lines. Without batch norm the
distributions drift as the layers below learn; with it they stay put.

Imported only when drawing; matplotlib's object API with the Agg canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from cnnlab.compare.distributions import Distributed
from cnnlab.compare.plot import MAX_LINES, add_legend, legend_layout, write_figure
from cnnlab.compare.styles import Looks

QUANTITIES = (("pre_activation", "pre-activation (input of the nonlinearity)"), ("activation", "activation"))
MAX_PANEL_ROWS = 8  # layers drawn without --layers: this many, spread from the first to the last
BAND_ALPHA = 0.18


def spread(layers: Sequence[str], most: int = MAX_PANEL_ROWS) -> list[str]:
    """At most `most` of `layers`, evenly spaced, the first and the last among them."""
    if len(layers) <= most:
        return list(layers)
    return [layers[round(i * (len(layers) - 1) / (most - 1))] for i in range(most)]


def plot_percentiles(found: Sequence[Distributed], layers: Sequence[str], path: Path, title: str,
                     looks: Looks) -> None:
    """Rows: `layers`; columns: the pre-activation and the activation; x: optimizer steps."""
    shown = list(found[:MAX_LINES])
    if len(found) > MAX_LINES:
        title += f" — plotted: the first {MAX_LINES} of {len(found)} configurations"
    labels = [d.label for d in shown]
    styles = [looks.of(d.runs) for d in shown]
    fig = Figure(figsize=(12, 0.6 + 2.6 * len(layers) + 0.25 * legend_layout(labels)[1]), layout="constrained")
    axes = fig.subplots(len(layers), len(QUANTITIES), sharex=True, squeeze=False)
    for row, layer in enumerate(layers):
        for column, (quantity, name) in enumerate(QUANTITIES):
            ax = axes[row][column]
            for d, style in zip(shown, styles, strict=True):
                by_step = d.percentiles.get((layer, quantity), {})
                steps = list(by_step)
                if not steps:
                    continue
                line = style.line()
                ax.fill_between(steps, [by_step[s]["p15"] for s in steps], [by_step[s]["p85"] for s in steps],
                                color=style.colour, alpha=BAND_ALPHA, linewidth=0, zorder=style.zorder - 1)
                ax.plot(steps, [by_step[s]["p50"] for s in steps], **{**line, "markersize": line["markersize"] - 2})
                for tail in ("p2", "p98"):
                    ax.plot(steps, [by_step[s][tail] for s in steps], color=style.colour, linestyle=":",
                            linewidth=1, zorder=style.zorder)
            ax.set_title(f"{layer}: {name}", fontsize=10)
            ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("optimizer steps")
    several = any(len(d.runs) > 1 for d in shown)
    note = "line: median; band: 15th–85th percentile; dotted: 2nd and 98th" + (
        " (each the mean over seeds)" if several else "")
    fig.suptitle(f"{title}\n{note}", fontsize=12)
    add_legend(fig, styles, labels, "")
    write_figure(fig, path)
