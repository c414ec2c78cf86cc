"""The figures `cnnlab inspect --plot FILE --view NAME` draws and `cnnlab report` puts in its pages:
name → what draws it. Each imports its plotting module (matplotlib) only when it draws, so that
`inspect --help` can list the names at no cost (the modules it names are imported when a figure is drawn).

- depth: gradient per weight and activation std against depth, at init and at one epoch (the default).
- percentiles: each layer's pre-activation and activation percentiles against steps (Ioffe & Szegedy 2015).
- histograms: each layer's normalized histograms of activations and gradients (Glorot & Bengio 2010).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cnnlab.compare.load import Run
    from cnnlab.compare.views import View


@dataclass(frozen=True)
class FigureRequest:
    """What a figure is drawn from: the runs (all of the set: they fix each configuration's look), their
    diagnostics as inspect shows them, and the options."""

    runs: Sequence[Run]
    views: Sequence[View]
    title: str
    warn: Callable[[str], None]
    epoch: int | None = None  # histograms: the epoch drawn (default init)
    layers: Sequence[str] | None = None  # percentiles, histograms: the layers drawn (default all)


def depth_figure(request: FigureRequest, path: Path) -> None:
    from cnnlab.compare.depth_plot import plot_depth
    from cnnlab.compare.metrics import CompareError
    from cnnlab.compare.styles import Looks

    if request.layers:
        raise CompareError("--layers: the depth view draws every layer; --view percentiles or histograms choose")
    plot_depth(request.views, path, request.title, Looks(request.runs))


def percentiles_figure(request: FigureRequest, path: Path) -> None:
    from cnnlab.compare.distributions import chosen_layers, distributed
    from cnnlab.compare.percentile_plot import plot_percentiles, spread
    from cnnlab.compare.styles import Looks

    found = distributed(request.runs, request.warn)
    layers = chosen_layers(found, request.layers) if request.layers else spread(chosen_layers(found, None))
    plot_percentiles(found, layers, path, f"{request.title}: percentiles through training", Looks(request.runs))


def histograms_figure(request: FigureRequest, path: Path) -> None:
    from cnnlab.compare.distributions import chosen_layers, distributed, histogram_epoch
    from cnnlab.compare.histogram_plot import plot_histograms
    from cnnlab.compare.styles import Looks

    found = distributed(request.runs, request.warn)
    layers = chosen_layers(found, request.layers) if request.layers else chosen_layers(found, None)[:-1] or \
        chosen_layers(found, None)  # without the head (the logits), unless it is all there is
    plot_histograms(found, layers, histogram_epoch(found, request.epoch), path,
                    f"{request.title}: normalized histograms", Looks(request.runs))


FIGURES: dict[str, Callable[[FigureRequest, Path], None]] = {
    "depth": depth_figure,
    "percentiles": percentiles_figure,
    "histograms": histograms_figure,
}
DEFAULT_FIGURE = "depth"
