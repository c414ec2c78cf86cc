"""The torchvision datasets: MNIST, Fashion-MNIST, KMNIST, CIFAR-10/100 and SVHN.

Each entry declares its shape, classes and the files torchvision reads (its exact layout under
`data.root`), so `cnnlab shape` needs neither torchvision nor the files. `load` runs torchvision's
own reading code, then checks what came out (shape, counts, label range): a file that is missing,
truncated or in the wrong format ends in one DatasetError naming the files, never a traceback.

torchvision compares CIFAR and SVHN files with the MD5 sums of the official release; cnnlab
verifies their structure instead (above), so that files in the same format written by other tools
load too, and a start does not hash 180 MB. Downloads are still checked against the archive's MD5.
"""

from __future__ import annotations

import importlib.util
import pickle
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cnnlab.data.cache import cache_key, cache_path, files_fingerprint, load_tensors, save_tensors
from cnnlab.data.download import host, reachable
from cnnlab.data.source import (
    DATASETS,
    DatasetCorruptError,
    DatasetError,
    DatasetInfo,
    DatasetMissingError,
    RawSplit,
    reason,
)

Reader = Callable[[Path, bool], dict[str, RawSplit]]  # (root, download) → {'train', 'test'}

# What torchvision's readers and downloads raise for files that are missing, cut short or not in their
# format: I/O and download errors, its own RuntimeErrors, the assertions of its IDX reader, pickle,
# archive and .mat (ValueError) errors, and a CIFAR batch without its keys.
READER_ERRORS = (OSError, EOFError, RuntimeError, ValueError, KeyError, IndexError, AssertionError,
                 pickle.UnpicklingError, tarfile.TarError, zipfile.BadZipFile, zlib.error)

DIGITS = tuple("0123456789")
FASHION = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
KUZUSHIJI = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100 = (  # the fine labels, in label order (alphabetical), as in the dataset's `meta` file
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle", "bottle", "bowl", "boy",
    "bridge", "bus", "butterfly", "camel", "can", "castle", "caterpillar", "cattle", "chair", "chimpanzee", "clock",
    "cloud", "cockroach", "couch", "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish",
    "forest", "fox", "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom", "oak_tree", "orange",
    "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree", "plain", "plate", "poppy", "porcupine",
    "possum", "rabbit", "raccoon", "ray", "road", "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk",
    "skyscraper", "snail", "snake", "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)


@dataclass(frozen=True)
class TorchvisionSource:
    name: str  # the spec's name for it, used in messages
    info: DatasetInfo
    files: tuple[str, ...]  # every file torchvision reads, relative to data.root
    read: Reader
    urls: tuple[str, ...]  # where torchvision downloads them from (its mirrors, or its archive)
    cached: bool = False  # keep the decoded tensors in data.root (for a slow format: SVHN's .mat)
    needs: tuple[str, ...] = ()  # modules torchvision reads the files with that cnnlab does not install (SVHN: scipy)

    def fingerprint(self, root: Path) -> str | None:
        found = files_fingerprint((Path(root) / f for f in self.files), Path(root))
        return cache_key(self.name, found) if len(found) == len(self.files) else None

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        root = Path(root)
        cache = self.cache_file(root)
        if cache is not None and (saved := load_tensors(cache)) is not None:
            return {split: RawSplit(saved[f"{split}_images"], saved[f"{split}_labels"]) for split in ("train", "test")}
        try:
            splits = self.read(root, download)
        except READER_ERRORS as err:  # a bug (a TypeError, an AttributeError ...) is not a damaged file: it propagates
            raise self.failure(root, download, err) from None
        for split_name, split in splits.items():
            self.check(root, split_name, split)
        if (cache := self.cache_file(root)) is not None:  # the files may have just been downloaded
            save_tensors(cache,
                         {f"{s}_{part}": getattr(splits[s], part) for s in splits for part in ("images", "labels")})
        return splits

    def cache_file(self, root: Path) -> Path | None:
        """Where decoded tensors are kept (a key that changes with any of the files), if they are."""
        key = self.fingerprint(root) if self.cached else None
        return cache_path(root, self.name, key, ".pt") if key else None

    def ensure_available(self, root: Path, download: bool) -> None:
        """Files absent and not to be downloaded: with data.download off, or when none of the download
        hosts answers (offline, a firewall); or a module torchvision reads them with that is not installed
        (`pip install -e .` leaves out SciPy, which only SVHN needs)."""
        if absent := [module for module in self.needs if importlib.util.find_spec(module) is None]:
            raise DatasetError(f"{self.name}: torchvision reads its files with {absent[0]}, which is not installed "
                               f"here: pip install {absent[0]}")
        if all((Path(root) / f).is_file() for f in self.files):
            return
        if not download:
            raise self.failure(Path(root), download, None)
        if not reachable(self.urls):
            hosts = list(dict.fromkeys(host(url) for url in self.urls))
            raise self.missing(Path(root), f"data.download is true, but its download host{'s' * (len(hosts) > 1)} "
                                           f"({', '.join(hosts)}) cannot be reached from here; put the files there "
                                           f"yourself")

    def failure(self, root: Path, download: bool, err: Exception | None) -> DatasetError:
        """The one-line error for a failed read: files missing (with where they go) or damaged."""
        missing = [f for f in self.files if not (root / f).is_file()]
        if err is not None and not missing:
            return DatasetCorruptError(
                f"{self.name}: cannot read its files in {root} ({reason(err)}); they may be truncated or damaged: "
                f"delete them and download again")
        return self.missing(root, f"the download failed ({reason(err)}); put the files there yourself" if download
                            else "data.download is false; set it to true or put the files there yourself")

    def missing(self, root: Path, how: str) -> DatasetMissingError:
        """Files absent, where they go, and `how` to get them (or the built-in dataset instead)."""
        expected = ", ".join(str(root / f) + gz_hint(root / f) for f in self.files if not (root / f).is_file())
        return DatasetMissingError(f"{self.name}: dataset files not found: expected {expected}; {how}, or train "
                                   f"on the built-in dataset, which needs none: --set data.dataset=shapes")

    def check(self, root: Path, split_name: str, split: RawSplit) -> None:
        """Catch what torchvision lets through: counts that disagree, wrong sizes, labels out of range."""
        images, labels = split.images, split.labels
        problem = None
        if images.dim() != 4 or tuple(images.shape[1:]) != self.info.shape:
            problem = f"images of shape {tuple(images.shape[1:])}, expected {self.info.shape}"
        elif labels.dim() != 1 or len(labels) != len(images):
            problem = f"{len(images)} images but {labels.numel()} labels"
        elif len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) < self.info.num_classes:
            problem = (f"labels from {int(labels.min())} to {int(labels.max())}, "
                       f"expected 0 to {self.info.num_classes - 1}")
        if problem:
            raise DatasetCorruptError(f"{self.name}: the {split_name} split in {root} has {problem}; "
                                      f"the files may be damaged: delete them and download again")


def gz_hint(path: Path) -> str:
    return f" (found {path.name}.gz: unpack it with gunzip)" if path.with_name(path.name + ".gz").is_file() else ""


# --------------------------------------------------------------------------- readers


def idx_reader(class_name: str) -> Reader:
    """MNIST-style IDX files in <root>/<class_name>/raw/."""

    def read(root: Path, download: bool) -> dict[str, RawSplit]:
        from torchvision import datasets

        dataset = getattr(datasets, class_name)
        splits = {}
        for split, train in (("train", True), ("test", False)):
            d = dataset(root, train=train, download=download)
            splits[split] = RawSplit(d.data.unsqueeze(1), d.targets)
        return splits

    return read


def without_checksums(base: type) -> type:
    """torchvision's CIFAR or SVHN class, reading the same files with its MD5 table cleared (the
    files are checked by structure instead; see the module's docstring)."""
    if hasattr(base, "split_list"):  # SVHN
        return type(base.__name__, (base,), {"split_list": {k: [url, name, None] for k, (url, name, _) in
                                                            base.split_list.items()}})
    return type(base.__name__, (base,), {
        "train_list": [[name, None] for name, _ in base.train_list],
        "test_list": [[name, None] for name, _ in base.test_list],
        "meta": {**base.meta, "md5": None},
    })


def cifar_reader(class_name: str) -> Reader:
    """CIFAR pickle batches; torchvision gives N×H×W×C: viewed as N×C×H×W, channels-last, no copy."""

    def read(root: Path, download: bool) -> dict[str, RawSplit]:
        import torch
        from torchvision import datasets

        dataset = without_checksums(getattr(datasets, class_name))
        splits = {}
        for split, train in (("train", True), ("test", False)):
            d = dataset(root, train=train, download=download)
            images = torch.from_numpy(d.data).permute(0, 3, 1, 2)
            splits[split] = RawSplit(images, torch.tensor(d.targets, dtype=torch.int64))
        return splits

    return read


def svhn_reader(root: Path, download: bool) -> dict[str, RawSplit]:
    """SVHN .mat files (read with scipy by torchvision, which maps label 10 to digit 0)."""
    import torch
    from torchvision import datasets

    dataset = without_checksums(datasets.SVHN)
    splits = {}
    for split in ("train", "test"):
        d = dataset(root, split=split, download=download)
        images = torch.from_numpy(d.data).contiguous(memory_format=torch.channels_last)
        splits[split] = RawSplit(images, torch.from_numpy(d.labels))
    return splits


# --------------------------------------------------------------------------- entries


def idx_files(folder: str) -> tuple[str, ...]:
    return tuple(f"{folder}/raw/{prefix}-{kind}" for prefix in ("train", "t10k")
                 for kind in ("images-idx3-ubyte", "labels-idx1-ubyte"))


# Where torchvision downloads each dataset from (its classes' `mirrors`, `url`, `split_list`; a test
# compares them), for the pre-flight's question whether a download can work from here.
MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
KMNIST_URLS = ("http://codh.rois.ac.jp/kmnist/dataset/kmnist/",)
CIFAR10_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",)
CIFAR100_URLS = ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",)
SVHN_URLS = ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat",
             "http://ufldl.stanford.edu/housenumbers/test_32x32.mat")


@DATASETS.register("mnist", "MNIST handwritten digits, 1×28×28, 10 classes (torchvision)")
def mnist() -> TorchvisionSource:
    return TorchvisionSource("mnist", DatasetInfo(1, 28, 28, 10, DIGITS), idx_files("MNIST"), idx_reader("MNIST"),
                             MNIST_URLS)


@DATASETS.register("fashion_mnist", "Fashion-MNIST clothing, 1×28×28, 10 classes (torchvision)")
def fashion_mnist() -> TorchvisionSource:
    return TorchvisionSource("fashion_mnist", DatasetInfo(1, 28, 28, 10, FASHION), idx_files("FashionMNIST"),
                             idx_reader("FashionMNIST"), FASHION_URLS)


@DATASETS.register("kmnist", "Kuzushiji-MNIST cursive Japanese, 1×28×28, 10 classes (torchvision)")
def kmnist() -> TorchvisionSource:
    return TorchvisionSource("kmnist", DatasetInfo(1, 28, 28, 10, KUZUSHIJI), idx_files("KMNIST"),
                             idx_reader("KMNIST"), KMNIST_URLS)


@DATASETS.register("cifar10", "CIFAR-10 photos, 3×32×32, 10 classes (torchvision)")
def cifar10() -> TorchvisionSource:
    files = tuple(f"cifar-10-batches-py/{name}" for name in
                  (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"))
    return TorchvisionSource("cifar10", DatasetInfo(3, 32, 32, 10, CIFAR10), files, cifar_reader("CIFAR10"),
                             CIFAR10_URLS)


@DATASETS.register("cifar100", "CIFAR-100 photos, 3×32×32, 100 classes (torchvision)")
def cifar100() -> TorchvisionSource:
    files = tuple(f"cifar-100-python/{name}" for name in ("train", "test", "meta"))
    return TorchvisionSource("cifar100", DatasetInfo(3, 32, 32, 100, CIFAR100), files, cifar_reader("CIFAR100"),
                             CIFAR100_URLS)


@DATASETS.register("svhn", "SVHN house-number digits, 3×32×32, 10 classes (torchvision; decoded once, cached)")
def svhn() -> TorchvisionSource:
    return TorchvisionSource("svhn", DatasetInfo(3, 32, 32, 10, DIGITS), ("train_32x32.mat", "test_32x32.mat"),
                             svhn_reader, SVHN_URLS, cached=True, needs=("scipy",))
