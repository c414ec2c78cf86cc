"""Datasets by name. An entry takes the user's options and returns a `DatasetSource`: its `info`
(image shape, classes) is known without touching any file, so `cnnlab shape` and the pre-flight
check of `cnnlab train` need no data and no torch; `load` produces the uint8 tensors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cnnlab.registry import Registry

if TYPE_CHECKING:
    import torch

    from cnnlab.spec import DataSpec

DATASETS = Registry("dataset")

TEST_SEED_OFFSET = 1_000_003  # shapes: the test split is drawn from an independent seed


@dataclass(frozen=True)
class DatasetInfo:
    channels: int
    height: int
    width: int
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)


@dataclass(frozen=True)
class RawSplit:
    """One split as loaded: images uint8 N×C×H×W, labels int64 N (both CPU tensors)."""

    images: torch.Tensor
    labels: torch.Tensor


class DatasetSource(Protocol):
    info: DatasetInfo

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        """Return {'train': ..., 'test': ...}."""


@dataclass(frozen=True)
class ShapesSource:
    """The built-in procedural dataset (cnnlab.data.shapes_dataset)."""

    info: DatasetInfo
    train_size: int
    test_size: int
    options: dict

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        import torch

        from cnnlab.data.shapes_dataset import generate

        def split(n: int, split_seed: int) -> RawSplit:
            x, y = generate(n, image_size=self.info.height, channels=self.info.channels, seed=split_seed,
                            **self.options)
            return RawSplit(torch.from_numpy(x), torch.from_numpy(y))

        return {"train": split(self.train_size, seed), "test": split(self.test_size, seed + TEST_SEED_OFFSET)}


def dataset_source(data: DataSpec) -> DatasetSource:
    return DATASETS.build(data.dataset.name, **data.dataset.options)


def dataset_info(data: DataSpec) -> DatasetInfo:
    """The input the model sees: the dataset's own shape after the spec's padding."""
    info = dataset_source(data).info
    pad = 2 * data.pad
    return DatasetInfo(info.channels, info.height + pad, info.width + pad, info.num_classes, info.class_names)


@DATASETS.register("shapes", "built-in procedural shapes (lines, circles, squares ...): no download")
def shapes(
    *,
    image_size: int = 28,
    channels: int = 1,
    train_size: int = 10000,
    test_size: int = 2000,
    min_scale: float = 0.35,
    max_scale: float = 0.9,
    position_jitter: float = 1.0,
    max_rotation: float = 15.0,
    thickness: float = 0.07,
    min_contrast: float = 0.35,
    noise: float = 0.15,
    clutter: int = 3,
) -> ShapesSource:
    """Options are those of cnnlab.data.shapes_dataset.generate, plus the split sizes."""
    from cnnlab.data.shapes_dataset import CLASS_NAMES

    options = dict(min_scale=min_scale, max_scale=max_scale, position_jitter=position_jitter,
                   max_rotation=max_rotation, thickness=thickness, min_contrast=min_contrast, noise=noise,
                   clutter=clutter)
    info = DatasetInfo(channels, image_size, image_size, len(CLASS_NAMES), CLASS_NAMES)
    return ShapesSource(info, train_size, test_size, options)
