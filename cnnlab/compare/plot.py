"""Learning curves of compared configurations: validation accuracy and training loss vs epoch.

One look per configuration (cnnlab.compare.styles: the same as in inspect's figures of the same runs),
its mean over seeds as a line and a band across seeds around it: the min–max range, or with --band
the standard deviation, standard error or 95% confidence interval (cnnlab.compare.bands). Imported
only for `cnnlab compare --plot` (matplotlib costs a noticeable fraction of a second); uses
matplotlib's object API with the Agg canvas, so no display or GUI backend is ever touched.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backend_bases import FigureCanvasBase
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from cnnlab.compare.bands import DEFAULT_BAND, edges, legend_label
from cnnlab.compare.build import Comparison
from cnnlab.compare.labels import row_labels
from cnnlab.compare.metrics import CompareError
from cnnlab.compare.rows import Band, differing_keys, group_rows
from cnnlab.compare.styles import Looks, Style
from cnnlab.util.files import atomic_path

MARKER_MAX_EPOCHS = 15  # mark each epoch while points are few enough to tell apart
LOG_LOSS_RATIO = 20  # a loss that falls by more than this reads better on a log axis
MAX_LINES = 20  # more configurations than this make a legend nobody reads
LEGEND_CHARS = 150  # characters of legend text across the figure's width at its font size


def check_plot_path(path: Path) -> None:
    """Fail before any work when the plot cannot be written: unknown format or missing folder."""
    formats = FigureCanvasBase.get_supported_filetypes()
    suffix = path.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise CompareError(f"--plot {path}: cannot write {suffix or 'files without a suffix'}; "
                           f"end the name in one of: {', '.join('.' + f for f in sorted(formats))}")
    if not path.parent.is_dir():
        raise CompareError(f"--plot {path}: folder {path.parent} does not exist")


def _draw(ax, band: Band, kind: str, style: Style, shade: float, scale: float = 1.0) -> None:
    """The mean as a line, the band of `kind` (cnnlab.compare.bands) around it of opacity `shade`."""
    if not band.epochs:
        return
    line = style.line()
    if len(band.epochs) > MARKER_MAX_EPOCHS:
        line["marker"] = None
    ax.plot(band.epochs, [v * scale for v in band.mean], **line)
    low, high = edges(band, kind)
    if low != high:
        ax.fill_between(band.epochs, [v * scale for v in low], [v * scale for v in high],
                        color=style.colour, alpha=shade, linewidth=0)


def _finish_axis(ax, title: str, ylabel: str, has_data: bool) -> None:
    ax.set_title(title, fontsize=11)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    if not has_data:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.text(0.5, 0.5, f"no {title} recorded", transform=ax.transAxes, ha="center", va="center",
                color="grey")


def plot_curves(comparison: Comparison, path: Path, band: str = DEFAULT_BAND) -> None:
    """Draw the shown configurations (per-run rows are grouped), each with its `band` across seeds
    (cnnlab.compare.bands), and write `path` atomically."""
    rows = comparison.rows if comparison.aggregated else group_rows(comparison.runs)
    title = comparison.title
    if len(rows) > MAX_LINES:
        title += f" — plotted: the first {MAX_LINES} of {len(rows)} configurations (see --top, --where)"
        rows = rows[:MAX_LINES]
    labels, legend_title = row_labels(rows, differing_keys(rows, comparison.preferred))
    looks = Looks(comparison.runs)
    styles = [looks.of(row.runs) for row in rows]
    legend_columns, legend_rows = legend_layout(labels)

    fig = Figure(figsize=(12, 4.6 + 0.25 * legend_rows), layout="constrained")
    acc_ax, loss_ax = fig.subplots(1, 2)
    shade = min(0.2, 0.8 / len(rows))  # overlapping bands must not hide the lines
    for row, style in zip(rows, styles, strict=True):
        _draw(acc_ax, row.val_acc, band, style, shade, scale=100)
        _draw(loss_ax, row.train_loss, band, style, shade)
    _finish_axis(acc_ax, "validation accuracy", "accuracy (%)", any(r.val_acc.epochs for r in rows))
    _finish_axis(loss_ax, "training loss", "loss", any(r.train_loss.epochs for r in rows))
    losses = [v for r in rows for v in r.train_loss.low + r.train_loss.high]
    if losses and min(losses) > 0 and max(losses) / min(losses) > LOG_LOSS_RATIO:
        loss_ax.set_yscale("log")
        loss_ax.set_ylabel("loss (log scale)")
    seeds = any(len(r.used) > 1 for r in rows)
    fig.suptitle(title + ("\nline: mean over seeds" if seeds else ""), fontsize=12)
    add_legend(fig, styles, labels, legend_title, legend_label(band) if seeds else None)
    write_figure(fig, path)


def legend_layout(labels: Sequence[str]) -> tuple[int, int]:
    """(columns, rows) of a legend below the panels: as many columns as the labels' length allows."""
    columns = max(1, min(len(labels), 4, LEGEND_CHARS // (max(map(len, labels)) + 6)))
    return columns, -(-len(labels) // columns)


def add_legend(fig: Figure, styles: Sequence[Style], labels: Sequence[str], title: str,
               band: str | None = None) -> None:
    """The configurations' lines, and (`band`) what the shaded band around each is."""
    handles = [Line2D([], [], **style.line()) for style in styles]
    if band is not None:
        handles, labels = [*handles, Patch(color="grey", alpha=0.3, linewidth=0)], [*labels, band]
    fig.legend(handles, labels, title=title or None, loc="outside lower center", ncols=legend_layout(labels)[0],
               frameon=False, fontsize=10)


PNG_COLOURS = 256  # a line plot needs no more: the palette PNG is about a third of the RGBA one's size
DPI = 120
PNG_BYTES = 200_000  # a figure committed beside a report stays this small: a larger one is drawn at a lower DPI
MIN_DPI = 60  # ... but no lower: below it the labels are unreadable, and the figure keeps its size


def png_bytes(fig: Figure) -> bytes:
    """The figure as a palette PNG (no dithering, deterministic) of at most PNG_BYTES where MIN_DPI allows:
    at DPI, else again at the DPI its size says (bytes grow about with the pixels, so with DPI²)."""
    from PIL import Image  # matplotlib's own dependency

    dpi = DPI
    while True:
        drawn = io.BytesIO()
        fig.savefig(drawn, format="png", dpi=dpi)
        image = Image.open(drawn).convert("RGB")
        stored = io.BytesIO()
        image.quantize(PNG_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
            stored, format="png", optimize=True)
        if stored.tell() <= PNG_BYTES or dpi == MIN_DPI:
            return stored.getvalue()
        dpi = max(MIN_DPI, min(dpi - 1, int(dpi * 0.95 * (PNG_BYTES / stored.tell()) ** 0.5)))


def write_figure(fig: Figure, path: Path) -> None:
    """Temporary file beside the target, then rename: a crash never leaves half a picture. A PNG is
    stored with a palette, small enough to commit beside a report (png_bytes)."""
    kind = path.suffix.lstrip(".").lower()
    try:
        with atomic_path(path) as tmp:
            if kind != "png":
                fig.savefig(tmp, format=kind, dpi=DPI)
            else:
                tmp.write_bytes(png_bytes(fig))
    except OSError as err:
        raise CompareError(f"--plot {path}: cannot write ({err.strerror or err})") from None
