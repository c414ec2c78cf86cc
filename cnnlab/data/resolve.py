"""From a validated `data:` section to its dataset source and to what the model sees of it.

An entry takes the user's options and returns a `DatasetSource` whose `info` (image shape,
classes) is known without reading any image, so `cnnlab shape` and the pre-flight of
`cnnlab train` need no data and no torch; `load` produces the uint8 tensors. `dataset_info` is the
input the model gets: the dataset's own info after class selection, resizing and padding.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.data.catalog import DATASETS
from cnnlab.data.classes import LabelMap, label_map
from cnnlab.data.geometry import output_info
from cnnlab.data.source import DatasetError, DatasetInfo, DatasetSource
from cnnlab.spec import DataSpec


def dataset_source(data: DataSpec) -> DatasetSource:
    return DATASETS.build(data.dataset.name, **data.dataset.options)


def class_selection(data: DataSpec, info: DatasetInfo) -> LabelMap:
    """How `data.classes` and `data.binary` relabel the dataset's classes."""
    positive = data.binary.positive if data.binary is not None else None
    return label_map(data.dataset.name, info.class_names, data.classes, positive)


def model_input(data: DataSpec, info: DatasetInfo) -> DatasetInfo:
    """`info` (the dataset's own) as the model sees it: classes selected, then resized, then padded.
    Fixed normalization values are checked against its channels here, before any data are read."""
    if not isinstance(data.normalize, str) and len(data.normalize.mean) != info.channels:
        raise DatasetError(f"data.normalize: {len(data.normalize.mean)} mean/std values for {data.dataset.name}'s "
                           f"{info.channels}-channel images; give one per channel")
    names = class_selection(data, info).names
    selected = DatasetInfo(info.channels, info.height, info.width, len(names), names)
    return output_info(selected, data.resize, data.pad)


def dataset_info(data: DataSpec) -> DatasetInfo:
    """The input shape and classes the model is built for; reads no image and imports no torch."""
    return model_input(data, dataset_source(data).info)


def check_available(data: DataSpec) -> None:
    """Raise DatasetMissingError now, before any torch import, if the files are absent and
    `data.download` is off."""
    dataset_source(data).ensure_available(Path(data.root), data.download)


def preloaded_images(data: DataSpec) -> int | None:
    """How many images a run preloads (its training subset, or the train split, and the test split),
    where the entry declares its split sizes (shapes); None where only its files tell."""
    source = dataset_source(data)
    train, test = getattr(source, "train_size", None), getattr(source, "test_size", None)
    if train is None or test is None:
        return None
    return min(train, data.subset or train) + test


def check_training_split(data: DataSpec) -> None:
    """`val_fraction` must leave training images, where the spec alone tells how many there are (a
    `subset`, or an entry that declares its `train_size`, like shapes). The split itself checks again
    class by class when it is cut (cnnlab.data.splits)."""
    sizes = [n for n in (data.subset, getattr(dataset_source(data), "train_size", None)) if n is not None]
    if not sizes or data.val_fraction == 0:
        return
    n = min(sizes)
    if n >= 2 and round(n * data.val_fraction) >= n:
        raise DatasetError(f"data.val_fraction: {data.val_fraction} of {n} training images holds out all of them; "
                           f"lower it or use more images")
