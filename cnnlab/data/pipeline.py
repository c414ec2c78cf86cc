"""Datasets as tensors on the training device: load once, split, normalize per batch.

Each split is one uint8 tensor N×C×H×W plus int64 labels, moved to the device once. Batches are
cut from it by index, converted to float and normalized there, vectorized: no per-sample Python
and no float copy of the whole dataset (CIFAR-10's train split is 150 MB as uint8, 600 MB as float).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnlab.data.registry import DatasetInfo, RawSplit, dataset_info, dataset_source
from cnnlab.spec import DataSpec


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 N×C×H×W, on the training device
    labels: torch.Tensor  # int64 N

    def __len__(self) -> int:
        return self.labels.shape[0]


@dataclass(frozen=True)
class Normalizer:
    """x ↦ (x/255 − mean)/std per channel, as one multiply-add per element."""

    mean: tuple[float, ...]  # in [0, 1] units, per channel
    std: tuple[float, ...]

    def scale_shift(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        std = torch.tensor(self.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
        return 1.0 / (255.0 * std), -mean / std


@dataclass(frozen=True)
class Data:
    info: DatasetInfo
    train: Split
    val: Split | None
    test: Split
    normalizer: Normalizer


def load_data(spec: DataSpec, seed: int, device: torch.device) -> Data:
    """Load, pad, split off validation (seeded, stratified), fix normalization, move to `device`."""
    raw = dataset_source(spec).load(Path(spec.root), spec.download, seed)
    train, test = (_pad(raw[name], spec.pad) for name in ("train", "test"))
    train, val = split_validation(train, spec.val_fraction, seed)
    normalizer = make_normalizer(spec, train.images)
    return Data(
        info=dataset_info(spec),
        train=_to(train, device),
        val=_to(val, device) if val is not None else None,
        test=_to(test, device),
        normalizer=normalizer,
    )


def _pad(split: RawSplit, pad: int) -> RawSplit:
    if pad == 0:
        return split
    return RawSplit(torch.nn.functional.pad(split.images, (pad, pad, pad, pad)), split.labels)


def _to(split: RawSplit, device: torch.device) -> Split:
    return Split(split.images.to(device).contiguous(), split.labels.to(device))


def split_validation(split: RawSplit, fraction: float, seed: int) -> tuple[RawSplit, RawSplit | None]:
    """Hold out `fraction` of every class (rounded, at least one image of a class that has two),
    chosen by a generator seeded from `seed`, so class proportions match in both parts."""
    if fraction == 0:
        return split, None
    gen = torch.Generator().manual_seed(seed)
    val_idx = []
    for cls in torch.unique(split.labels):
        members = torch.nonzero(split.labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        take = round(len(members) * fraction)
        take = max(take, 1) if len(members) > 1 else 0
        val_idx.append(members[:take])
    val = torch.cat(val_idx).sort().values
    keep = torch.ones(len(split.labels), dtype=torch.bool)
    keep[val] = False
    return RawSplit(split.images[keep], split.labels[keep]), RawSplit(split.images[val], split.labels[val])


def make_normalizer(spec: DataSpec, train_images: torch.Tensor) -> Normalizer:
    channels = train_images.shape[1]
    if spec.normalize == "none":
        return Normalizer((0.0,) * channels, (1.0,) * channels)
    if spec.normalize == "dataset":
        return Normalizer(*channel_stats(train_images))
    return Normalizer(tuple(spec.normalize.mean), tuple(spec.normalize.std))


def channel_stats(images: torch.Tensor, chunk: int = 4096) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std (in [0, 1] units) of uint8 images, in float64 chunks so the whole
    split is never copied as floats."""
    channels = images.shape[1]
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for start in range(0, images.shape[0], chunk):
        x = images[start:start + chunk].to(torch.float64).transpose(0, 1).reshape(channels, -1)
        total += x.sum(1)
        squares += (x * x).sum(1)
    count = images.numel() // channels
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt()
    std = torch.where(std > 0, std, torch.ones_like(std) * 255.0)  # a constant channel: leave its scale
    return tuple((mean / 255).tolist()), tuple((std / 255).tolist())


class Batches:
    """Normalized float batches cut from a split on its device."""

    def __init__(self, split: Split, normalizer: Normalizer, batch_size: int, channels_last: bool) -> None:
        self.split = split
        self.batch_size = batch_size
        self.scale, self.shift = normalizer.scale_shift(split.images.device)
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def __len__(self) -> int:
        return -(-len(self.split) // self.batch_size)

    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(memory_format=self.memory_format).float()
        return x.mul_(self.scale).add_(self.shift)

    def shuffled(self, generator: torch.Generator, drop_single: bool = True) -> Iterator[tuple]:
        """One epoch in a random order drawn from `generator`. A last batch of one image is skipped
        (batch norm cannot train on it)."""
        order = torch.randperm(len(self.split), generator=generator).to(self.split.labels.device)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            if drop_single and len(idx) == 1 and start > 0:
                break
            yield self._batch(self.split.images.index_select(0, idx)), self.split.labels.index_select(0, idx)

    def in_order(self) -> Iterator[tuple]:
        for start in range(0, len(self.split), self.batch_size):
            end = start + self.batch_size
            yield self._batch(self.split.images[start:end]), self.split.labels[start:end]
