"""Input normalization (the lecture's mean subtraction and variance normalization).

`normalize: dataset` uses the per-channel mean and std of the training split only (never
validation or test), computed exactly from a histogram of its uint8 values (no float copy of the
split) and cached in data.root next to the data; `center` subtracts that mean only (pixels keep their
[0, 1] scale); `none` leaves [0, 1] pixels; or fixed values.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from cnnlab.data.cache import load_json, save_json

if TYPE_CHECKING:
    from cnnlab.spec import DataSpec


@dataclass(frozen=True)
class Normalizer:
    """x ↦ (x/255 − mean)/std per channel, as one multiply-add per element."""

    mean: tuple[float, ...]  # in [0, 1] units, per channel
    std: tuple[float, ...]

    def scale_shift(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        return 1.0 / (255.0 * std), -mean / std


def make_normalizer(spec: DataSpec, train_images: torch.Tensor, cache: Path | None = None) -> Normalizer:
    """The normalization `spec.normalize` asks for; `dataset` statistics are read from / written to
    `cache` when given (its name must change whenever the training split could)."""
    channels = train_images.shape[1]
    if not isinstance(spec.normalize, str):
        return Normalizer(tuple(spec.normalize.mean), tuple(spec.normalize.std))
    if spec.normalize == "none":
        return Normalizer((0.0,) * channels, (1.0,) * channels)
    stats = _cached_stats(train_images, cache)
    if spec.normalize == "center":  # the lecture's first step alone: zero mean, the pixels' own scale
        return Normalizer(stats.mean, (1.0,) * channels)
    return stats


def _cached_stats(train_images: torch.Tensor, cache: Path | None) -> Normalizer:
    channels = train_images.shape[1]
    saved = load_json(cache) if cache is not None else None
    if isinstance(saved, dict) and len(saved.get("mean", ())) == len(saved.get("std", ())) == channels:
        return Normalizer(tuple(saved["mean"]), tuple(saved["std"]))
    normalizer = Normalizer(*channel_stats(train_images))
    if cache is not None:
        save_json(cache, {"mean": list(normalizer.mean), "std": list(normalizer.std)})
    return normalizer


def channel_stats(images: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (in [0, 1] units) of uint8 N×C×H×W images, exact, from a 256-bin
    histogram per channel (float64 sums over 256 values instead of over every pixel)."""
    values = torch.arange(256, dtype=torch.float64)
    means, stds = [], []
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        total = counts.sum().clamp_min(1)
        mean = (counts * values).sum() / total
        var = ((counts * (values - mean) ** 2).sum() / total).item()
        std = var ** 0.5 if var > 0 else 255.0  # a constant channel: leave its scale alone
        means.append(mean.item() / 255)
        stds.append(std / 255)
    return tuple(means), tuple(stds)
