"""What a dataset entry is: the `DATASETS` table, the torch-free `DatasetInfo` an entry declares up
front, the uint8 `RawSplit`s its `load` produces, and the errors a user's data can cause.

An entry is registered with its user options as keyword-only parameters (of a function, or the
fields of a keyword-only dataclass) and returns a `DatasetSource`. This module imports no torch:
`cnnlab shape` and the pre-flight read `info` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cnnlab.errors import CnnlabError
from cnnlab.registry import Registry

if TYPE_CHECKING:
    import torch

DATASETS = Registry("dataset")

CACHE_DIR = ".cnnlab-cache"  # inside data.root: decoded images and normalization statistics
TEST_SPLIT_SEED = 0  # a test split held out of a user's files is the same for every run of every seed


class DatasetError(CnnlabError):
    """Data that cannot be used as the spec asks; the message says what to fix."""


class DatasetMissingError(DatasetError):
    """Dataset files that are absent and could not be downloaded."""


class DatasetCorruptError(DatasetError):
    """Dataset files that exist but cannot be read (truncated, wrong format, undecodable)."""


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

    def __len__(self) -> int:
        return self.labels.shape[0]


class DatasetSource(Protocol):
    @property
    def info(self) -> DatasetInfo: ...

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        """Return {'train': ..., 'test': ...}; raise DatasetError for missing or unreadable files."""

    def ensure_available(self, root: Path, download: bool) -> None:
        """Raise DatasetMissingError when files are absent and will not be downloaded (no torch:
        the pre-flight can call it); an entry of a user's files reads and checks them here too."""

    def fingerprint(self, root: Path) -> str | None:
        """A string that changes whenever the files behind the data change, or None for data that
        are generated (nothing on disk, nothing to cache)."""


def reason(err: Exception) -> str:
    """The most specific line of an exception's message (torchvision's download errors end with it)."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
