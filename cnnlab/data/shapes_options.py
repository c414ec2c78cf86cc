"""How the built-in `shapes` images are drawn: the options written once, for the generator
(cnnlab.data.shapes_dataset) and for the dataset entry (cnnlab.data.shapes_source), whose options they
are. Plain Python: registering the entry imports nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class ShapesDrawing:
    """The drawing options; the generator refuses impossible ones, naming the option."""

    image_size: int = 28  # side of the square image in pixels (>= 8)
    channels: int = 1  # 1: grayscale, bright shape on a darker background; 3: random colors
    min_scale: float = 0.35  # shape extent (diameter of its bounding circle) as a fraction of image_size,
    max_scale: float = 0.9  # drawn uniformly per image from [min_scale, max_scale]
    position_jitter: float = 1.0  # share of the free room around the shape used for placement (0: centred)
    max_rotation: float = 15.0  # each shape is rotated by up to this many degrees either way (<= 22.5)
    thickness: float = 0.07  # stroke width as a fraction of image_size (0.07 is ~2 px at 28×28), ±30% per image
    min_contrast: float = 0.35  # foreground-background difference drawn uniformly from [min_contrast, 1]
    noise: float = 0.25  # standard deviation of additive Gaussian pixel noise, on the 0..1 intensity scale
    clutter: int = 3  # small distractor specks drawn at random places in each image


DEFAULT_DRAWING = ShapesDrawing()
