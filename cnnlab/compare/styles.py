"""One look per configuration, the same in every figure that compare, inspect and report draw for a
set of runs: the learning curves, the depth plot, the percentiles and the histograms.

A configuration's look follows from its place among the set's configurations in the order the
experiment lists them (cnnlab.compare.run_tables.sweep_position), not from the order a figure draws
them in (compare sorts by accuracy). Lines that coincide stay visible: each configuration's line is
narrower than the one before it and drawn above it, and its markers differ in shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib import colormaps

from cnnlab.compare.load import Run
from cnnlab.compare.rows import configuration_key, configurations
from cnnlab.compare.run_tables import sweep_position

LINESTYLES = ("-", "--", ":", "-.")  # past the 10 colours, the line's style changes too
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
WIDEST, NARROWEST = 4.0, 1.5  # line widths of the first and the last configuration


@dataclass(frozen=True)
class Style:
    colour: tuple[float, ...]
    linestyle: str
    marker: str
    width: float
    zorder: float  # later configurations above earlier ones

    def line(self) -> dict:
        """Keyword arguments of matplotlib's plot for this look."""
        return {"color": self.colour, "linestyle": self.linestyle, "linewidth": self.width, "zorder": self.zorder,
                "marker": self.marker, "markersize": 2 + self.width}


def style(index: int, count: int) -> Style:
    """The look of configuration `index` of `count`."""
    colours = colormaps["tab10"].colors
    share = index / (count - 1) if count > 1 else 0.0
    return Style(colours[index % len(colours)], LINESTYLES[(index // len(colours)) % len(LINESTYLES)],
                 MARKERS[index % len(MARKERS)], WIDEST - (WIDEST - NARROWEST) * share, 2 + share)


class Looks:
    """The looks of a set of runs' configurations."""

    def __init__(self, runs: Sequence[Run]) -> None:
        groups = sorted(configurations(runs), key=lambda members: min(map(sweep_position, members)))
        self._index = {configuration_key(members[0]): i for i, members in enumerate(groups)}
        self.count = len(groups)

    def of(self, members: Sequence[Run]) -> Style:
        """The look of the configuration `members` belong to (one of the set's)."""
        return style(self._index[configuration_key(members[0])], self.count)
