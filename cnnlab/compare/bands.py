"""The band a curve plot draws around a configuration's mean across its seeds (`cnnlab compare --plot
--band NAME`): each name says what the band is, and how its edges follow from the runs' values at
an epoch. The spread of one run is none: its band is its line."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnnlab.compare.stats import t_quantile

if TYPE_CHECKING:  # compare's --help lists the bands: rows (and the run loader behind it) only for a plot
    from cnnlab.compare.rows import Band


@dataclass(frozen=True)
class BandKind:
    label: str  # what the legend says the band is
    half_width: Callable[[float, int], float] | None  # (sample std, runs) → half its width; None: min to max


BANDS: dict[str, BandKind] = {
    "minmax": BandKind("min–max over seeds", None),
    "std": BandKind("mean ± 1 standard deviation over seeds", lambda std, n: std),
    "sem": BandKind("mean ± 1 standard error of the mean", lambda std, n: std / math.sqrt(n)),
    "ci95": BandKind("95% confidence interval of the mean (Student's t)",
                     lambda std, n: t_quantile(0.025, n - 1) * std / math.sqrt(n) if n > 1 else 0.0),
}
DEFAULT_BAND = "minmax"


def edges(band: Band, name: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The band's lower and upper edge at each of its epochs."""
    half = BANDS[name].half_width
    if half is None:
        return band.low, band.high
    widths = [half(std, n) for std, n in zip(band.std, band.count, strict=True)]
    return (tuple(m - w for m, w in zip(band.mean, widths, strict=True)),
            tuple(m + w for m, w in zip(band.mean, widths, strict=True)))


def legend_label(name: str) -> str:
    """`band: min–max over seeds (the default; --band std, sem, ci95)`."""
    others = ", ".join(other for other in BANDS if other != name)
    default = "the default; " if name == DEFAULT_BAND else ""
    return f"band: {BANDS[name].label} ({default}--band {others})"
