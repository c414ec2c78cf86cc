"""Reading a numpy .npz file of images and labels (the `npz` entry, cnnlab.data.npz_source).

The archive is opened without pickle (an object array is refused, never unpickled). Every message
names the file and the array, and a bad value by its index in that array as the file holds it
(`x_train[12, 3, 4]`), before any reordering of the axes.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

import numpy as np

from cnnlab.data import file_checks
from cnnlab.data.file_source import SPLITS, FileArrays
from cnnlab.data.source import DatasetCorruptError, reason
from cnnlab.registry import did_you_mean
from cnnlab.util.reading import NotReadable, checkpoint_bytes, read_bounded

MAX_CHANNELS = 4  # an axis this short is the channels (gray, RGB, RGBA); image sides are longer
READ_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error)  # a damaged or pickled file


def read_npz(path: Path, keys: dict[str, str], declared: tuple[str, ...] | None) -> FileArrays:
    """The train and test images and labels under `keys` (role → array name), checked."""
    try:
        archive = np.load(io.BytesIO(read_bounded(path, checkpoint_bytes(), "dataset file")), allow_pickle=False)
    except READ_ERRORS as err:
        raise DatasetCorruptError(f"{path}: cannot read it as a numpy .npz file ({reason(err)})") from None
    except NotReadable as err:  # not a regular file (it was swapped after the check), or beyond memory
        raise DatasetCorruptError(str(err)) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetCorruptError(f"{path}: holds one array (a .npy file), not named arrays (.npz: np.savez)")
    with archive:
        arrays = {role: member(archive, path, role, keys) for role in keys}
    splits = {}
    for split in SPLITS:
        x, y = f"x_{split}", f"y_{split}"
        images = image_array(arrays[x], f"{path} {keys[x]}")
        labels = label_array(arrays[y], f"{path} {keys[y]}")
        if len(images) != len(labels):
            raise DatasetCorruptError(f"{path}: {keys[x]} holds {len(images)} images but {keys[y]} "
                                      f"{len(labels)} labels")
        splits[split] = (images, labels, indexed(f"{path} {keys[y]}"))
    train_shape, test_shape = (splits[s][0].shape[1:] for s in SPLITS)
    if train_shape != test_shape:
        raise DatasetCorruptError(f"{path}: {keys['x_test']} holds images of {shape_text(test_shape)}, "
                                  f"{keys['x_train']} of {shape_text(train_shape)}")
    return file_checks.checked(splits, declared)


def member(archive: np.lib.npyio.NpzFile, path: Path, role: str, keys: dict[str, str]) -> np.ndarray:
    """The array of `role`; a missing one is named with the closest name no other role takes."""
    name = keys[role]
    if name not in archive.files:
        close = did_you_mean(name, set(archive.files) - set(keys.values()))
        raise DatasetCorruptError(f"{path}: no array {name!r} (data.dataset.keys.{role}){close}; the file holds "
                                  f"{', '.join(archive.files) or 'no arrays'}")
    try:
        return archive[name]
    except READ_ERRORS as err:
        raise DatasetCorruptError(f"{path}: cannot read its array {name!r} ({reason(err)})") from None


def image_array(values: np.ndarray, name: str) -> np.ndarray:
    """uint8 N×C×H×W from N×H×W, N×H×W×C or N×C×H×W (channels-last stays so in memory: no copy)."""
    shape = values.shape
    if not (values.ndim == 3 or (values.ndim == 4 and min(shape[1], shape[3]) <= MAX_CHANNELS)):
        raise DatasetCorruptError(f"{name} has shape {shape_text(shape)}; expected images N×H×W, N×H×W×C or "
                                  f"N×C×H×W (C at most {MAX_CHANNELS})")
    if not len(values):
        raise DatasetCorruptError(f"{name} holds no images")
    pixels = file_checks.pixels(values, lambda i: f"{name}[{', '.join(map(str, np.unravel_index(i, shape)))}]")
    if pixels.ndim == 3:
        return pixels[:, None]
    return pixels.transpose(0, 3, 1, 2) if shape[3] <= MAX_CHANNELS else pixels


def label_array(values: np.ndarray, name: str) -> np.ndarray:
    """int64 N from N or N×1 (Keras' CIFAR labels) class numbers."""
    if not (values.ndim == 1 or (values.ndim == 2 and values.shape[1] == 1)):
        raise DatasetCorruptError(f"{name} has shape {shape_text(values.shape)}; expected N labels (or N×1)")
    flat = values.reshape(-1)
    return file_checks.labels(flat, indexed(name))


def indexed(name: str) -> file_checks.Where:
    return lambda i: f"{name}[{i}]"


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))
