"""The `npz` entry: images and labels as arrays in one numpy .npz file, by default under the names
Keras' mnist.npz gives them (x_train, y_train, x_test, y_test).

    {name: npz, path: mnist.npz}
    {name: npz, path: digits.npz, keys: {x_train: images, y_train: targets}}   # other array names

Images are N×H×W (one channel), N×H×W×C (Keras' order) or N×C×H×W, with whole values from 0 to
255; labels are N or N×1 class numbers. The file is read without pickle. It is binary already, so
nothing is cached (reading it is as fast as reading a cache); the reading is cnnlab.data.npz_reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

from cnnlab.data.file_source import FileArrays, FileSource
from cnnlab.data.source import DATASETS

Role = Literal["x_train", "y_train", "x_test", "y_test"]
KERAS_KEYS: dict[Role, str] = {"x_train": "x_train", "y_train": "y_train", "x_test": "x_test", "y_test": "y_test"}


@DATASETS.register("npz", "arrays in a numpy .npz file, by default Keras' mnist.npz names: x_train, y_train ...")
@dataclass(frozen=True, kw_only=True)
class NpzSource(FileSource):
    """path: the .npz file (relative to the working directory); keys: the array names, for those that
    differ from Keras' (x_train, y_train, x_test, y_test); classes: the class names (or their
    number), else 0 up to the largest training label."""

    path: str = "mnist.npz"  # Keras' name for it
    keys: dict[Role, str] | None = None  # role → the array's name in the file; null, or a role left out: Keras'

    kind: ClassVar[str] = "npz"
    cached: ClassVar[bool] = False

    def array_names(self) -> dict[Role, str]:
        return {**KERAS_KEYS, **(self.keys or {})}

    def paths(self) -> dict[str, Path]:
        return {"path": Path(self.path)}

    def read(self) -> FileArrays:
        from cnnlab.data.npz_reader import read_npz

        return read_npz(Path(self.path).expanduser(), self.array_names(), self.declared_names())
