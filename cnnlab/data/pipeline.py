"""Datasets as tensors on the training device: load once, prepare, split, normalize per batch.

Each split is one uint8 tensor N×C×H×W plus int64 labels, moved to the device once. Batches are
cut from it by index, augmented (training only), converted to float and normalized there,
vectorized: no per-sample Python and no float copy of the whole dataset (CIFAR-10's train split is
150 MB as uint8, 600 MB as float).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnlab.data.augment import Augmentation, make_augmentation
from cnnlab.data.cache import cache_key, cache_path
from cnnlab.data.classes import LabelMap, relabel
from cnnlab.data.geometry import reshape_split
from cnnlab.data.normalize import Normalizer, make_normalizer
from cnnlab.data.resolve import class_selection, dataset_source, model_input
from cnnlab.data.source import DatasetError, DatasetInfo, DatasetSource, RawSplit
from cnnlab.data.splits import TEST_SUBSET_SEED, split_validation, take, take_subset
from cnnlab.spec import DataSpec

__all__ = ["Batches", "Data", "Normalizer", "Shard", "Split", "load_data", "split_validation"]


@dataclass(frozen=True)
class Split:
    images: torch.Tensor  # uint8 N×C×H×W, on the training device
    labels: torch.Tensor  # int64 N
    augment: Augmentation | None = None  # applied to the batches of a training epoch (`Batches.shuffled`)

    def __len__(self) -> int:
        return self.labels.shape[0]


@dataclass(frozen=True)
class Data:
    info: DatasetInfo
    train: Split
    val: Split | None
    test: Split
    normalizer: Normalizer


def load_data(spec: DataSpec, seed: int, device: torch.device) -> Data:
    """Load; select classes, take the subset, resize and pad; split off validation (seeded,
    stratified); fix the normalization from the training part; move everything to `device`."""
    source = dataset_source(spec)
    root = Path(spec.root)
    source.ensure_available(root, spec.download)
    raw = source.load(root, spec.download, seed)
    mapping = class_selection(spec, source.info)
    train = prepare(raw.pop("train"), mapping, spec, seed)
    test = prepare(raw.pop("test"), mapping, spec, TEST_SUBSET_SEED)
    for name, split in (("training", train), ("test", test)):
        if len(split) == 0:
            raise DatasetError(f"data: the {name} split of {spec.dataset.name} has no images of the chosen classes")
    train, val = split_validation(train, spec.val_fraction, seed)
    normalizer = make_normalizer(spec, train.images, stats_cache(spec, source, seed))
    return Data(
        info=model_input(spec, source.info),
        train=to_device(train, device, make_augmentation(spec.augment, seed, device)),
        val=to_device(val, device) if val is not None else None,
        test=to_device(test, device),
        normalizer=normalizer,
    )


def prepare(split: RawSplit, mapping: LabelMap, spec: DataSpec, subset_seed: int) -> RawSplit:
    """Class selection, then the subset, then resizing and padding (cheapest order: fewest images)."""
    split = take_subset(relabel(split, mapping), spec.subset, subset_seed)
    return reshape_split(split, spec.resize, spec.pad)


def stats_cache(spec: DataSpec, source: DatasetSource, seed: int) -> Path | None:
    """Where `normalize: dataset` statistics are kept: keyed by the files and every option that
    shapes the training split (None for generated data: nothing on disk to keep them next to)."""
    fingerprint = source.fingerprint(Path(spec.root))
    if fingerprint is None:
        return None
    shaping = spec.model_dump(mode="json", exclude={"root", "download", "normalize", "augment"})
    return cache_path(Path(spec.root), f"stats-{spec.dataset.name}", cache_key(fingerprint, shaping, seed), ".json")


def to_device(split: RawSplit, device: torch.device, augment: Augmentation | None = None) -> Split:
    """Stored channels-last (N×H×W×C in memory): the layout conv nets train fastest in, on CPU and
    GPU, so batches need no transposing copy; for one channel it is the usual layout anyway."""
    return Split(split.images.to(device).contiguous(memory_format=torch.channels_last), split.labels.to(device),
                 augment)


@dataclass(frozen=True)
class Shard:
    """One process's part of every batch when several train together (torchrun): a contiguous slice,
    the parts differing by at most one image."""

    rank: int = 0
    size: int = 1

    def part(self, n: int) -> slice:
        return slice(self.rank * n // self.size, (self.rank + 1) * n // self.size)


class Batches:
    """Normalized float batches cut from a split on its device.

    Under torchrun each process trains on its part of every batch (`shard`): `batch_size` is the
    global batch, cut into contiguous parts of the same (seeded) order, so that the processes
    together see exactly the batches one process would. Augmentation is drawn for the whole global
    batch (the same draws on every process) before each takes its part, so it is the same too."""

    def __init__(self, split: Split, normalizer: Normalizer, batch_size: int, channels_last: bool,
                 shard: Shard = Shard()) -> None:
        self.split = split
        self.batch_size = batch_size
        self.shard = shard
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        # In the batches' layout; a copy only if the split is stored in another (an MLP on colour images).
        self.images = split.images.contiguous(memory_format=self.memory_format)
        scale, shift = normalizer.scale_shift(split.images.device)
        image = (1, *split.images.shape[1:])
        # One value per pixel, not per channel: with nothing to broadcast inside an image, the
        # normalization is a single vectorized pass (a per-channel broadcast in channels-last is ~5× slower).
        self.scale = scale.expand(image).contiguous(memory_format=self.memory_format)
        self.shift = shift.expand(image).contiguous(memory_format=self.memory_format)

    def __len__(self) -> int:
        """Batches of a pass in order (evaluation)."""
        return -(-len(self.split) // self.batch_size)

    @property
    def smallest(self) -> int:
        """The fewest images a training batch may have: 2 (batch norm cannot train on one), and one per
        process at least; a smaller last batch of an epoch is skipped."""
        return max(2, self.shard.size)

    @property
    def steps_per_epoch(self) -> int:
        """Batches of a shuffled training epoch (a last batch of fewer than `smallest` images is skipped)."""
        left = len(self.split) % self.batch_size
        return len(self) - (len(self.split) > self.batch_size and 0 < left < self.smallest)

    def images_in(self, step: int) -> int:
        """Images of the global batch of training step `step` (1-based), over all processes."""
        return min(self.batch_size, len(self.split) - (step - 1) * self.batch_size)

    def _batch(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 → normalized float in the model's memory layout, in one fused kernel: x·scale + shift."""
        out = torch.empty(images.shape, dtype=torch.float32, device=images.device, memory_format=self.memory_format)
        return torch.addcmul(self.shift, images, self.scale, out=out)

    def shuffled(self, generator: torch.Generator, skip: int = 0) -> Iterator[tuple]:
        """One training epoch (this process's part of it): a random order drawn from `generator`,
        batches augmented by the split's augmentation; a last batch of fewer than `smallest` images is
        skipped. `skip` leaves out the first batches, drawing nothing for them: an epoch resumed
        mid-way, with the generators as they were when it stopped."""
        order = torch.randperm(len(self.split), generator=generator).to(self.split.labels.device)
        augment = self.split.augment
        for start in range(skip * self.batch_size, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            if len(idx) < self.smallest and start > 0:
                break
            part = self.shard.part(len(idx))
            # Augmentation is drawn for the whole global batch: every process draws the same.
            images = augment(take(self.images, idx))[part] if augment is not None else take(self.images, idx[part])
            yield self._batch(images), self.split.labels.index_select(0, idx[part])

    def select(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The images at `idx` as one normalized batch, not augmented, and their labels."""
        idx = idx.to(self.split.labels.device)
        return self._batch(take(self.images, idx)), self.split.labels.index_select(0, idx)

    def in_order(self) -> Iterator[tuple]:
        """The split in order (this process's part of each batch; evaluation)."""
        for start in range(0, len(self.split), self.batch_size):
            part = self.shard.part(min(self.batch_size, len(self.split) - start))
            begin, end = start + part.start, start + part.stop
            if begin < end:
                yield self._batch(self.images[begin:end]), self.split.labels[begin:end]
