"""What the `csv` and `npz` entries share: images and labels a user already has in a file, read and
checked with numpy (no torch) before anything trains, then handed to the uint8 pipeline.

An entry says which files it reads and how (`paths`, `read`); this base class does the rest:
- `ensure_available` reads and checks every file, so a bad one is one `error:` line in the
  pre-flight of `cnnlab train`, before any run directory exists;
- `info` is the declared `image_shape` and `classes` where the entry knows them, else what the
  files hold (classes: 0 up to the largest training label);
- a slow format (CSV text) keeps its decoded arrays in data.root/.cnnlab-cache under a key made of
  the files' names, sizes and times and the options, as SVHN's .mat files are kept;
- the last file read stays in memory until a run takes it, and its shape and classes for good: the
  pre-flight asks for `info` and the availability several times, `load` follows in the same
  process and `info` again after it, so a file is parsed once.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar

from annotated_types import Ge

from cnnlab.data.cache import cache_key, cache_path, files_fingerprint, load_arrays, save_arrays
from cnnlab.data.source import DatasetError, DatasetInfo, DatasetMissingError, RawSplit

if TYPE_CHECKING:
    import numpy as np

SPLITS = ("train", "test")

_LAST_READ: dict[str, FileArrays] = {}  # fingerprint → arrays of the file read last, until a run takes them
_INFOS: dict[str, DatasetInfo] = {}  # fingerprint → shape and classes of each file read, for `info` after that


@dataclass(frozen=True)
class FileArrays:
    """What a user's files hold, checked: per split, uint8 images N×C×H×W and int64 labels N."""

    images: dict[str, np.ndarray]  # 'train' and, when the files have one, 'test'
    labels: dict[str, np.ndarray]
    class_names: tuple[str, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images["train"].shape[1:])

    def raw_splits(self) -> dict[str, RawSplit]:
        import torch

        return {split: RawSplit(torch.from_numpy(self.images[split]), torch.from_numpy(self.labels[split]))
                for split in self.images}

    def saved(self) -> dict[str, np.ndarray]:
        """As flat named arrays for a cache file (numpy's .npz, no pickle)."""
        import numpy as np

        return {**{f"{s}_images": a for s, a in self.images.items()},
                **{f"{s}_labels": a for s, a in self.labels.items()}, "class_names": np.array(self.class_names)}

    @classmethod
    def from_saved(cls, saved: dict[str, np.ndarray] | None) -> FileArrays | None:
        if saved is None or "class_names" not in saved:
            return None
        splits = [s for s in SPLITS if f"{s}_images" in saved and f"{s}_labels" in saved]
        return cls({s: saved[f"{s}_images"] for s in splits}, {s: saved[f"{s}_labels"] for s in splits},
                   tuple(str(name) for name in saved["class_names"]))


@dataclass(frozen=True, kw_only=True)
class FileSource(ABC):
    """A dataset entry read from a user's files; `classes` is every such entry's option."""

    classes: Annotated[int, Ge(2)] | tuple[str, ...] | None = None  # null: 0 up to the largest training label

    kind: ClassVar[str]  # the entry's name: in messages and cache file names
    cached: ClassVar[bool]  # keep the decoded arrays in data.root (a slow format)

    def __post_init__(self) -> None:
        if isinstance(self.classes, tuple) and len(self.classes) < 2:
            raise DatasetError(f"data.dataset.classes: a classifier needs at least two classes, got "
                               f"{len(self.classes)}")
        if isinstance(self.classes, tuple) and len(set(self.classes)) < len(self.classes):
            twice = next(name for name in self.classes if self.classes.count(name) > 1)
            raise DatasetError(f"data.dataset.classes: {twice!r} is named twice")

    @abstractmethod
    def paths(self) -> dict[str, Path]:
        """Every file the entry reads, by the option that names it."""

    @abstractmethod
    def read(self) -> FileArrays:
        """Read and check the files; a DatasetError names the file and the place in it."""

    def declared_names(self) -> tuple[str, ...] | None:
        """The class names the `classes` option gives (N: "0" to "N-1"), or None: from the labels."""
        if isinstance(self.classes, int):
            return tuple(str(i) for i in range(self.classes))
        return self.classes

    @property
    def info(self) -> DatasetInfo:
        key = self.key()
        if key not in _INFOS:
            self.arrays()
        return _INFOS[key]

    def ensure_available(self, root: Path, download: bool) -> None:
        self.arrays(Path(root))

    def fingerprint(self, root: Path | None = None) -> str:
        paths = [path.expanduser().absolute() for path in self.paths().values()]
        return cache_key(self.kind, [str(p) for p in paths], files_fingerprint(paths, Path("/")),
                         dataclasses.asdict(self))

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        splits = self.arrays(Path(root)).raw_splits()
        _LAST_READ.clear()  # the run owns these arrays now: another run reads its own
        return splits

    def key(self) -> str:
        """The fingerprint of files that exist; a missing one is a DatasetMissingError naming its option."""
        for option, path in self.paths().items():
            if not is_file(path):
                raise DatasetMissingError(f"{self.kind}: no file {path} (data.dataset.{option}; a relative path "
                                          f"starts from the working directory)")
        return self.fingerprint()

    def arrays(self, root: Path | None = None) -> FileArrays:
        """The files' checked arrays: from memory, from data.root's cache, or read now (and then kept
        in the cache, when `root` is given and the format is slow)."""
        key = self.key()
        cache = cache_path(root, self.kind, key, ".npz") if root is not None and self.cached else None
        found = _LAST_READ.get(key)
        if found is None and cache is not None:
            found = FileArrays.from_saved(load_arrays(cache))
        if found is None:
            found = self.read()
        if cache is not None and not cache.is_file():
            save_arrays(cache, found.saved())
        _LAST_READ.clear()
        _LAST_READ[key] = found
        _INFOS[key] = DatasetInfo(*found.shape, len(found.class_names), found.class_names)
        return found


def is_file(path: Path) -> bool:
    try:
        return path.expanduser().is_file()
    except (OSError, ValueError):  # a name the system refuses (a NUL byte, too long): no such file
        return False
