"""The built-in offline `shapes` dataset: procedurally drawn images, deterministic by seed.

Every shape is an implicit function (a signed distance) evaluated on the pixel grid of a whole
batch at once, so generation is a handful of numpy array operations, not a loop over pixels.
Edges are anti-aliased by turning the signed distance into pixel coverage over a 1-pixel ramp.
numpy only: importing this module must stay cheap (no torch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from cnnlab.data.shapes_options import DEFAULT_DRAWING, ShapesDrawing
from cnnlab.errors import CnnlabError
from cnnlab.util.memory import machine_memory
from cnnlab.util.text import binary_size

# Each shape lives in the unit disc of its own frame (x right, y up, scaled by the shape's
# half-extent), so one placement rule keeps every class inside the image.
# fn(x, y, half_width, form) -> signed distance in those units, negative on the ink.
# half_width is half the stroke width in the same units; form is (k, 4) uniform numbers in [0, 1)
# that shapes with a random outline use.
ShapeFn = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray], np.ndarray]

_DIAG = 1 / np.sqrt(2)
_TRIANGLE = [(np.cos(a), np.sin(a)) for a in np.deg2rad([90, 210, 330])]
_SQUARE_HALF_SIDE = 0.7  # corners at radius ~0.99: inside the unit disc
_RING_RADIUS = 0.8  # about the size of the square, so size alone does not tell them apart
_SPECK_RADIUS = 0.03  # clutter dots, as a fraction of image_size (~0.8 px at 28x28)
_THICKNESS_SPREAD = 0.3  # each image's stroke width varies by +-30% around `thickness`
_CHUNK_PIXELS = 1 << 22  # render in chunks of ~4M pixels to bound memory for large n


class ShapesOptionError(CnnlabError, ValueError):
    """An impossible option of the shapes dataset; the message names the argument."""


def _segment(x: np.ndarray, y: np.ndarray, a: tuple[float, float], b: tuple[float, float]) -> np.ndarray:
    """Distance from points (x, y) to the segment a-b."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    px, py = x - a[0], y - a[1]
    t = np.clip((px * dx + py * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.hypot(px - t * dx, py - t * dy)


def _horizontal_line(x, y, hw, form):
    return _segment(x, y, (-1.0, 0.0), (1.0, 0.0)) - hw


def _vertical_line(x, y, hw, form):
    return _segment(x, y, (0.0, -1.0), (0.0, 1.0)) - hw


def _diagonal(x, y, hw, form):
    # The random mirror of the frame turns this "/" into "\" for half of the images.
    return _segment(x, y, (-_DIAG, -_DIAG), (_DIAG, _DIAG)) - hw


def _circle(x, y, hw, form):
    return np.abs(np.hypot(x, y) - _RING_RADIUS) - hw


def _square(x, y, hw, form):
    qx, qy = np.abs(x) - _SQUARE_HALF_SIDE, np.abs(y) - _SQUARE_HALF_SIDE
    box = np.hypot(np.maximum(qx, 0), np.maximum(qy, 0)) + np.minimum(np.maximum(qx, qy), 0)
    return np.abs(box) - hw


def _triangle(x, y, hw, form):
    a, b, c = _TRIANGLE
    return np.minimum(np.minimum(_segment(x, y, a, b), _segment(x, y, b, c)), _segment(x, y, c, a)) - hw


def _cross(x, y, hw, form):
    return np.minimum(_segment(x, y, (-1.0, 0.0), (1.0, 0.0)), _segment(x, y, (0.0, -1.0), (0.0, 1.0))) - hw


def _filled_blob(x, y, hw, form):
    # A star-shaped region: radius 0.6 wobbled by random 2nd and 3rd harmonics, at most 0.95.
    theta = np.arctan2(y, x)
    amp2, amp3, phase2, phase3 = (form[:, i, None, None] for i in range(4))
    radius = (
        0.6
        + 0.2 * amp2 * np.cos(2 * theta + 2 * np.pi * phase2)
        + 0.15 * amp3 * np.cos(3 * theta + 2 * np.pi * phase3)
    )
    return np.hypot(x, y) - radius


SHAPES: dict[str, ShapeFn] = {
    "horizontal_line": _horizontal_line,
    "vertical_line": _vertical_line,
    "diagonal": _diagonal,
    "circle": _circle,
    "square": _square,
    "triangle": _triangle,
    "cross": _cross,
    "filled_blob": _filled_blob,
}
CLASS_NAMES: tuple[str, ...] = tuple(SHAPES)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ShapesOptionError(message)


def _require_integer(name: str, value: object, minimum: int) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= minimum
    _require(ok, f"{name}: must be an integer >= {minimum}, got {value!r}")


def _validate(n: int, drawing: ShapesDrawing, seed: int) -> None:
    d = drawing
    _require_integer("n", n, 0)
    _require_integer("image_size", d.image_size, 8)
    drawn = 4 * d.channels * d.image_size**2  # one image's float32 pixels while it is drawn: the least it takes
    _require(drawn <= machine_memory(), f"image_size: one {d.image_size}×{d.image_size} image needs "
                                        f"{binary_size(drawn)} to draw, more than this machine's memory "
                                        f"({binary_size(machine_memory())})")
    _require(d.channels in (1, 3), f"channels: must be 1 or 3, got {d.channels!r}")
    _require_integer("seed", seed, 0)
    _require(0 < d.min_scale <= 1, f"min_scale: must be in (0, 1], got {d.min_scale!r}")
    _require(
        d.min_scale <= d.max_scale <= 1, f"max_scale: must be in [min_scale={d.min_scale}, 1], got {d.max_scale!r}"
    )
    _require(0 <= d.position_jitter <= 1, f"position_jitter: must be in [0, 1], got {d.position_jitter!r}")
    # Beyond 22.5 degrees a tilted horizontal line is closer to a diagonal than to itself.
    _require(0 <= d.max_rotation <= 22.5, f"max_rotation: must be in [0, 22.5] degrees, got {d.max_rotation!r}")
    _require(0 < d.thickness <= 0.5, f"thickness: must be in (0, 0.5], got {d.thickness!r}")
    _require(0 < d.min_contrast <= 1, f"min_contrast: must be in (0, 1], got {d.min_contrast!r}")
    _require(0 <= d.noise <= 1, f"noise: must be in [0, 1], got {d.noise!r}")
    _require_integer("clutter", d.clutter, 0)


def _colors(rng: np.random.Generator, n: int, channels: int, min_contrast: float):
    """Background and foreground colors in [0, 1], (n, channels) each.

    The foreground is the background moved by a contrast c ~ U(min_contrast, 1) along a random
    direction whose largest channel step is 1; grayscale always steps up (bright on dark).
    """
    contrast = rng.uniform(min_contrast, 1.0, size=(n, 1))
    if channels == 1:
        direction = np.ones((n, 1))
    else:
        direction = rng.standard_normal((n, channels))
        direction /= np.abs(direction).max(axis=1, keepdims=True)
    step = contrast * direction
    # Background drawn where background + step stays inside [0, 1].
    low, high = np.maximum(0.0, -step), np.minimum(1.0, 1.0 - step)
    background = low + rng.random((n, channels)) * (high - low)
    return background, background + step


@dataclass(frozen=True)
class _Layout:
    """Per-image random draws that say what goes where, in pixels (float32 keeps rendering fast)."""

    labels: np.ndarray  # (n,) class index
    half: np.ndarray  # (n,) radius of the shape's bounding circle
    width: np.ndarray  # (n,) stroke width
    center: np.ndarray  # (n, 2) x, y; pixel centers sit at i + 0.5
    angle: np.ndarray  # (n,) rotation in radians
    mirror: np.ndarray  # (n,) +-1: mirrors the diagonal and flips the triangle upside down
    form: np.ndarray  # (n, 4) uniforms for shapes with a random outline
    specks: np.ndarray  # (n, clutter, 4) uniforms: x, y, radius, intensity of each distractor


def _draw_layout(rng: np.random.Generator, labels: np.ndarray, drawing: ShapesDrawing) -> _Layout:
    n, d, image_size = len(labels), drawing, drawing.image_size
    half = rng.uniform(d.min_scale, d.max_scale, n) * image_size / 2
    width = d.thickness * image_size * rng.uniform(1 - _THICKNESS_SPREAD, 1 + _THICKNESS_SPREAD, n)
    room = np.maximum(image_size / 2 - half - width / 2, 0)
    center = image_size / 2 + d.position_jitter * room[:, None] * rng.uniform(-1, 1, (n, 2))
    angle = np.deg2rad(rng.uniform(-d.max_rotation, d.max_rotation, n))
    mirror = rng.choice([-1.0, 1.0], n)
    form, specks = rng.random((n, 4)), rng.random((n, d.clutter, 4))
    f32 = np.float32
    return _Layout(labels, half.astype(f32), width.astype(f32), center.astype(f32), angle.astype(f32),
                   mirror.astype(f32), form.astype(f32), specks.astype(f32))  # fmt: skip


def _ink(layout: _Layout, part: slice, image_size: int) -> np.ndarray:
    """Coverage in [0, 1] of shapes and clutter for the images in `part`: (len, image_size, image_size)."""
    grid = np.arange(image_size, dtype=np.float32) + 0.5
    ink = np.empty((part.stop - part.start, image_size, image_size), dtype=np.float32)
    for label, shape in enumerate(SHAPES.values()):
        rows = np.flatnonzero(layout.labels[part] == label)
        idx = rows + part.start
        # Into the shape's frame: translate, rotate, mirror, scale to the unit disc; y points up.
        h = layout.half[idx, None, None]
        dx = grid[None, None, :] - layout.center[idx, 0, None, None]
        dy = layout.center[idx, 1, None, None] - grid[None, :, None]
        cos, sin = np.cos(layout.angle[idx])[:, None, None], np.sin(layout.angle[idx])[:, None, None]
        x = (cos * dx + sin * dy) / h
        y = layout.mirror[idx, None, None] * (cos * dy - sin * dx) / h
        distance = shape(x, y, layout.width[idx, None, None] / 2 / h, layout.form[idx]) * h
        ink[rows] = np.clip(0.5 - distance, 0.0, 1.0)
    for k in range(layout.specks.shape[1]):
        sx, sy, sr, si = (layout.specks[part, k, i, None, None] for i in range(4))
        radius = _SPECK_RADIUS * image_size * (0.7 + 0.6 * sr)
        distance = np.hypot(grid[None, None, :] - sx * image_size, grid[None, :, None] - sy * image_size)
        ink = np.maximum(ink, (0.5 + 0.5 * si) * np.clip(0.5 + radius - distance, 0.0, 1.0))
    return ink


def generate(n: int, drawing: ShapesDrawing = DEFAULT_DRAWING, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Draw `n` labelled shape images as `drawing` says; classes are CLASS_NAMES, balanced and shuffled.

    Returns images uint8 (n, channels, image_size, image_size) and labels int64 (n,).
    The same seed (of numpy's PCG64 generator) and options give the same bytes; different seeds give
    independent samples, so a train split from seed s and a test split from seed s + offset do not
    share images. ShapesOptionError, naming the option, for an impossible one.
    """
    _validate(n, drawing, seed)
    image_size, channels, noise = drawing.image_size, drawing.channels, drawing.noise
    rng = np.random.Generator(np.random.PCG64(seed))
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(CLASS_NAMES))
    layout = _draw_layout(rng, labels, drawing)
    background, foreground = (c.astype(np.float32) for c in _colors(rng, n, channels, drawing.min_contrast))

    images = np.empty((n, channels, image_size, image_size), dtype=np.uint8)
    chunk = max(1, _CHUNK_PIXELS // (image_size * image_size * channels))
    for start in range(0, n, chunk):
        part = slice(start, min(start + chunk, n))
        ink = _ink(layout, part, image_size)
        bg, fg = background[part, :, None, None], foreground[part, :, None, None]
        pixels = bg + ink[:, None] * (fg - bg)
        pixels += noise * rng.standard_normal(pixels.shape, dtype=np.float32)
        images[part] = np.rint(np.clip(pixels, 0.0, 1.0) * 255)
    return images, labels
