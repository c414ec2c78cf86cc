"""Glorot & Bengio's pictures (2010, Fig. 6 and 7) from a user's own runs: per configuration, the
normalized histogram of each layer's activations and of its back-propagated gradients ∂L/∂activation,
at init or after one epoch, one curve per layer (darker: deeper). Under the standard initialization
the gradients' spread shrinks towards the input; under the normalized one it stays.

Each curve is mass over bin width (a density), so that layers whose values span different ranges
compare (the gradients' on a log scale). The head is left out unless --layers names it: its output
is the logits, not a nonlinearity's. The configuration's name is written in its look's colour
(cnnlab.compare.styles).
Imported only when drawing; matplotlib's object API with the Agg canvas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cnnlab.compare.distributions import Distributed
from cnnlab.compare.plot import MAX_LINES, write_figure
from cnnlab.compare.styles import Looks

QUANTITIES = (("activation", "activations", "linear"), ("gradient", "gradients ∂L/∂activation", "log"))
"""Each column's quantity, title and y scale: the gradients' peaks and tails differ by orders of magnitude."""
DEPTH_COLOURS = "viridis_r"  # the first layer light, the last dark


def plot_histograms(found: Sequence[Distributed], layers: Sequence[str], epoch: int, path: Path, title: str,
                    looks: Looks) -> None:
    """Rows: configurations; columns: activations and gradients; one curve per layer of `layers`."""
    shown = list(found[:MAX_LINES])
    if len(found) > MAX_LINES:
        title += f" — plotted: the first {MAX_LINES} of {len(found)} configurations"
    colours = colormaps[DEPTH_COLOURS]
    shade = {layer: colours(0.15 + 0.85 * i / max(1, len(layers) - 1)) for i, layer in enumerate(layers)}
    fig = Figure(figsize=(12, 1.2 + 2.8 * len(shown)), layout="constrained")
    axes = fig.subplots(len(shown), len(QUANTITIES), squeeze=False)
    for row, d in enumerate(shown):
        style = looks.of(d.runs)
        for column, (quantity, name, scale) in enumerate(QUANTITIES):
            ax = axes[row][column]
            for layer in layers:
                histogram = d.histograms[epoch].get((layer, quantity))
                if histogram is not None:
                    densities = [v if v > 0 or scale == "linear" else math.nan for v in histogram.densities()]
                    ax.plot(histogram.centres(), densities, color=shade[layer], linewidth=1.6)
            ax.set_title(f"{d.label}: {name}", fontsize=10, color=style.colour)
            ax.set_yscale(scale)
            ax.set_ylabel("density" + (" (log)" if scale == "log" else ""))
            ax.grid(True, alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("value")
    when = "at init" if epoch == 0 else f"after epoch {epoch}"
    one_seed = any(len(d.runs) > 1 for d in shown)
    fig.suptitle(f"{title}, {when}" + ("\n(each configuration's first seed)" if one_seed else ""), fontsize=12)
    handles = [Line2D([], [], color=shade[layer], linewidth=2) for layer in layers]
    fig.legend(handles, layers, loc="outside lower center", ncols=min(len(layers), 8), frameon=False, fontsize=10)
    write_figure(fig, path)
