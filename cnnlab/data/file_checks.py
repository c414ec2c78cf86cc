"""The checks every value of a user's csv or npz file passes before it becomes a uint8 image or a
label, vectorized with numpy. Each failure is one DatasetCorruptError naming the first bad value by
its place in the file (`where`: a line and column of a CSV, an index into an npz array).

Pixels are refused, not rescaled, unless they are whole numbers from 0 to 255: cnnlab's pipeline
holds uint8 images and normalizes them itself (`data.normalize`), and a silent guess (is 1.0 white,
or nearly black?) would train on other images than the user has.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnlab.data.file_source import FileArrays
from cnnlab.data.source import DatasetCorruptError

Where = Callable[[int], str]  # flat index of a value → where it is in the file, for the message

MAX_CLASSES = 10_000  # more classes read from the labels is a wrong `label` column far likelier than a dataset


def first(bad: np.ndarray) -> int | None:
    """The flat index of the first True, or None."""
    flat = bad.reshape(-1)
    return int(flat.argmax()) if flat.any() else None


def whole(values: np.ndarray) -> np.ndarray | bool:
    return values == np.floor(values) if values.dtype.kind == "f" else True


def pixels(values: np.ndarray, where: Where) -> np.ndarray:
    """`values` as uint8, when every one is a whole number from 0 to 255."""
    if values.dtype == np.uint8:
        return values
    if values.dtype.kind not in "iuf":
        raise DatasetCorruptError(f"{where(0)}: {values.dtype} values are not pixels; expected whole numbers "
                                  f"from 0 to 255 (uint8)")
    bad = first(~((values >= 0) & (values <= 255) & whole(values)))  # NaN compares False: bad
    if bad is not None:
        scaled = values.dtype.kind == "f" and bool(np.nanmax(values) <= 1)
        hint = "; they look scaled to 0..1: multiply by 255 and round first" if scaled else ""
        raise DatasetCorruptError(f"{where(bad)}: {values.reshape(-1)[bad]:g} is not a pixel value; expected "
                                  f"whole numbers from 0 to 255 (uint8){hint}")
    return values.astype(np.uint8)


def labels(values: np.ndarray, where: Where) -> np.ndarray:
    """`values` as int64 class numbers, when every one is a whole number >= 0."""
    if values.dtype.kind not in "iuf":
        raise DatasetCorruptError(f"{where(0)}: {values.dtype} labels; expected class numbers 0, 1, 2 ...")
    bad = first(~((values >= 0) & whole(values)))
    if bad is not None:
        raise DatasetCorruptError(f"{where(bad)}: label {values[bad]:g} is not a class number; expected whole "
                                  f"numbers 0, 1, 2 ...")
    return values.astype(np.int64)


def class_names(declared: tuple[str, ...] | None, train_labels: np.ndarray, where: Where) -> tuple[str, ...]:
    """The declared names, or "0" up to the largest training label; at least two classes."""
    if declared is not None:
        return declared
    top = int(train_labels.argmax())
    count = int(train_labels[top]) + 1
    if count > MAX_CLASSES:
        raise DatasetCorruptError(f"{where(top)}: label {count - 1} would make {count} classes; are these the "
                                  f"labels? If so, name the classes in data.dataset.classes")
    if count < 2:
        raise DatasetCorruptError(f"{where(0)}: every training label is 0; a classifier needs at least two "
                                  f"classes (are these the labels?)")
    return tuple(str(i) for i in range(count))


def in_range(values: np.ndarray, names: tuple[str, ...], declared: bool, where: Where) -> None:
    """Every label names one of the classes."""
    bad = first(values >= len(names))
    if bad is not None:
        why = (f"data.dataset.classes gives {len(names)} classes" if declared
               else f"the training labels go from 0 to {len(names) - 1}")
        raise DatasetCorruptError(f"{where(bad)}: label {values[bad]} is out of range: {why}")


def checked(splits: dict[str, tuple[np.ndarray, np.ndarray, Where]], declared: tuple[str, ...] | None) -> FileArrays:
    """Per split (images already uint8, labels class numbers, where a label is): the classes (declared, or
    from the training labels), every label among them."""
    _, train_labels, train_where = splits["train"]
    names = class_names(declared, train_labels, train_where)
    for _, values, where in splits.values():
        in_range(values, names, declared is not None, where)
    return FileArrays({split: images for split, (images, _, _) in splits.items()},
                      {split: values for split, (_, values, _) in splits.items()}, names)
