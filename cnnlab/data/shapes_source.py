"""The `shapes` entry: the built-in procedural dataset (cnnlab.data.shapes_dataset), no files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.shapes_options import ShapesDrawing
from cnnlab.data.source import DATASETS, DatasetError, DatasetInfo, RawSplit

TEST_SEED = 1_000_003  # one test split for every run: accuracies across seeds compare on the same images


@DATASETS.register("shapes", "built-in procedural shapes (lines, circles, squares ...): no download")
@dataclass(frozen=True, kw_only=True)
class ShapesSource(ShapesDrawing):
    """The entry's options are the drawing's and the split sizes. They are checked when the entry is
    built (the spec's pre-flight), by drawing zero images."""

    train_size: int = 10000
    test_size: int = 2000

    def __post_init__(self) -> None:
        from cnnlab.data.shapes_dataset import ShapesOptionError, generate

        for name in ("train_size", "test_size"):
            if (size := getattr(self, name)) < 1:
                raise DatasetError(f"data.dataset.{name}: must be >= 1, got {size}")
        try:
            generate(0, self)
        except ShapesOptionError as err:  # its message starts with the option's name
            raise DatasetError(f"data.dataset.{err}") from None

    @property
    def info(self) -> DatasetInfo:
        from cnnlab.data.shapes_dataset import CLASS_NAMES

        return DatasetInfo(self.channels, self.image_size, self.image_size, len(CLASS_NAMES), CLASS_NAMES)

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        import torch

        from cnnlab.data.shapes_dataset import generate

        def split(n: int, split_seed: int) -> RawSplit:
            x, y = generate(n, self, seed=split_seed)
            return RawSplit(torch.from_numpy(x), torch.from_numpy(y))

        # The training images follow the run's seed (part of what a seed varies); the test images never do.
        return {"train": split(self.train_size, seed), "test": split(self.test_size, TEST_SEED)}

    def ensure_available(self, root: Path, download: bool) -> None:
        pass  # nothing to find

    def fingerprint(self, root: Path) -> None:
        return None  # generated in well under a second: nothing worth caching
