"""A figure's PNG stays small enough to commit beside a report: a palette, and a lower resolution for a
figure that would be larger than cnnlab.compare.plot.PNG_BYTES."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from cnnlab.compare.plot import DPI, PNG_BYTES, write_figure


def test_a_figure_too_large_to_commit_is_drawn_at_a_lower_resolution(tmp_path):
    big = Figure(figsize=(12, 30))
    rng = np.random.default_rng(0)
    for ax in big.subplots(10, 1):
        ax.plot(rng.normal(size=300))  # noise: about 0.4 MB at DPI
    write_figure(big, tmp_path / "big.png")
    stored = Image.open(tmp_path / "big.png")
    assert (tmp_path / "big.png").stat().st_size <= PNG_BYTES
    assert stored.mode == "P" and stored.width < 12 * DPI


def test_a_small_figure_keeps_its_resolution(tmp_path):
    small = Figure(figsize=(4, 3))
    small.subplots().plot([0, 1], [1, 0])
    write_figure(small, tmp_path / "small.png")
    assert Image.open(tmp_path / "small.png").size == (4 * DPI, 3 * DPI)
