"""The `shapes` entry: the built-in procedural dataset (cnnlab.data.shapes_dataset), no files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.source import DATASETS, DatasetError, DatasetInfo, RawSplit

TEST_SEED = 1_000_003  # one test split for every run: accuracies across seeds compare on the same images


@dataclass(frozen=True)
class ShapesSource:
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

        # The training images follow the run's seed (part of what a seed varies); the test images never do.
        return {"train": split(self.train_size, seed), "test": split(self.test_size, TEST_SEED)}

    def ensure_available(self, root: Path, download: bool) -> None:
        pass  # nothing to find

    def fingerprint(self, root: Path) -> None:
        return None  # generated in well under a second: nothing worth caching


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
    noise: float = 0.25,
    clutter: int = 3,
) -> ShapesSource:
    """Options are those of cnnlab.data.shapes_dataset.generate (same defaults, a test checks), plus the
    split sizes. They are checked here, when the spec is pre-flighted, by drawing zero images."""
    from cnnlab.data.shapes_dataset import CLASS_NAMES, generate

    options = dict(min_scale=min_scale, max_scale=max_scale, position_jitter=position_jitter,
                   max_rotation=max_rotation, thickness=thickness, min_contrast=min_contrast, noise=noise,
                   clutter=clutter)
    for name, size in (("train_size", train_size), ("test_size", test_size)):
        if size < 1:
            raise DatasetError(f"data.dataset.{name}: must be >= 1, got {size}")
    try:
        generate(0, image_size=image_size, channels=channels, **options)
    except ValueError as err:
        raise DatasetError(f"data.dataset.{err}") from None
    info = DatasetInfo(channels, image_size, image_size, len(CLASS_NAMES), CLASS_NAMES)
    return ShapesSource(info, train_size, test_size, options)
