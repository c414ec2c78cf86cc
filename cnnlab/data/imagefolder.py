"""`imagefolder`: a user's own images, one subfolder per class, decoded once and cached.

    PATH/<class>/<images>                           the test split is held out (test_fraction, fixed seed)
    PATH/train/<class>/... and PATH/test/<class>/...   the two splits as given

Every image is converted to `channels` (1: grayscale, 3: RGB) and resized to image_size × image_size
(bilinear; the aspect ratio is not kept). Decoding is the slow part, so the decoded uint8 tensors
are cached in data.root under a key made of the files' names, sizes and times and these options.
Classes are the subfolder names, sorted; listing them touches no image, so `cnnlab shape` stays fast.
An image that will not decode is an error naming the file, not skipped: silently training on fewer
images than the folder holds would surprise more than it helps.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cnnlab.data.cache import cache_key, cache_path, files_fingerprint, load_tensors, save_tensors
from cnnlab.data.source import (
    DATASETS,
    TEST_SPLIT_SEED,
    DatasetCorruptError,
    DatasetError,
    DatasetInfo,
    DatasetMissingError,
    RawSplit,
    reason,
)

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp")
MODES = {1: "L", 3: "RGB"}  # channels → PIL mode

Listing = tuple[tuple[Path, int], ...]  # (image file, label), in a stable order


@dataclass(frozen=True)
class ImageFolderSource:
    info: DatasetInfo
    folder: Path
    files: dict[str, Listing]  # 'train' and, with the train/test layout, 'test'
    test_fraction: float

    def ensure_available(self, root: Path, download: bool) -> None:
        pass  # the folder was listed, and checked, when this source was made

    def fingerprint(self, root: Path) -> str:
        paths = [path for listing in self.files.values() for path, _ in listing]
        return cache_key("imagefolder", str(self.folder.resolve()), self.info.shape,
                         [label for listing in self.files.values() for _, label in listing],
                         files_fingerprint(paths, self.folder))

    def load(self, root: Path, download: bool, seed: int) -> dict[str, RawSplit]:
        import torch

        from cnnlab.data.splits import split_validation

        cache = cache_path(Path(root), f"imagefolder-{self.folder.name or 'root'}", self.fingerprint(root), ".pt")
        saved = load_tensors(cache)
        if saved is None:
            saved = {}
            for split, listing in self.files.items():
                saved[f"{split}_images"] = decode_all(listing, self.info)
                saved[f"{split}_labels"] = torch.tensor([label for _, label in listing], dtype=torch.int64)
            save_tensors(cache, saved)
        splits = {split: RawSplit(saved[f"{split}_images"], saved[f"{split}_labels"]) for split in self.files}
        if "test" not in splits:
            train, test = split_validation(splits["train"], self.test_fraction, TEST_SPLIT_SEED)
            if test is None:
                raise DatasetError(f"imagefolder: {self.folder} has too few images per class to hold out a test "
                                   f"split; add images, or give the test images in {self.folder / 'test'}")
            splits = {"train": train, "test": test}
        return splits


def decode_all(listing: Listing, info: DatasetInfo):
    """All images of a listing as one uint8 N×C×H×W tensor (channels-last: PIL's own H×W×C order),
    decoded on a few threads (PIL releases the GIL while decoding and resizing)."""
    import numpy as np
    import torch

    out = np.empty((len(listing), info.height, info.width, info.channels), dtype=np.uint8)

    def fill(i: int) -> None:
        out[i] = decode(listing[i][0], info.height, info.channels)

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        list(pool.map(fill, range(len(listing))))
    return torch.from_numpy(out).permute(0, 3, 1, 2)


def decode(path: Path, size: int, channels: int):
    """One image as uint8 size×size×channels."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as image:
            array = np.asarray(image.convert(MODES[channels]).resize((size, size), Image.Resampling.BILINEAR))
    except Exception as err:  # PIL raises OSError, SyntaxError, ValueError ... for a damaged file
        raise DatasetCorruptError(f"imagefolder: cannot decode {path} ({reason(err)}); "
                                  f"replace or remove the file") from None
    return array[:, :, None] if array.ndim == 2 else array


def class_folders(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_images(folder: Path, names: list[str], classes: list[str]) -> Listing:
    """Every image file under folder/<name>/ (recursively) with its class index in `classes`."""
    listing = []
    for name in names:
        images = sorted(p for p in (folder / name).rglob("*")
                        if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file() and not p.name.startswith("."))
        if not images:
            raise DatasetError(f"imagefolder: class folder {folder / name} has no images "
                               f"({' '.join(IMAGE_EXTENSIONS)}); add some or remove the folder")
        listing += [(p, classes.index(name)) for p in images]
    return tuple(listing)


@DATASETS.register("imagefolder", "your own images: PATH/<class>/*.png, or PATH/train/<class> + PATH/test/<class>")
def imagefolder(
    *,
    path: str = "images",
    image_size: int = 32,
    channels: Literal[1, 3] = 3,
    test_fraction: float = 0.2,
) -> ImageFolderSource:
    """path: the folder (relative to the working directory); image_size: side every image is resized
    to; channels: 1 (grayscale) or 3 (RGB); test_fraction: share held out for testing when there
    is no PATH/test."""
    if image_size < 1:
        raise DatasetError(f"data.dataset.image_size: must be >= 1, got {image_size}")
    if not 0 < test_fraction < 1:
        raise DatasetError(f"data.dataset.test_fraction: must be between 0 and 1, got {test_fraction}")
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DatasetMissingError(f"imagefolder: no folder {folder} (data.dataset.path); "
                                  f"expected {folder}/<class name>/<images>")
    train_dir = folder / "train" if (folder / "train").is_dir() else folder
    classes = class_folders(train_dir)
    if not classes:
        raise DatasetError(f"imagefolder: {train_dir} has no class folders; "
                           f"expected {train_dir}/<class name>/<images>")
    files = {"train": list_images(train_dir, classes, classes)}
    if train_dir != folder and (folder / "test").is_dir():
        test_classes = class_folders(folder / "test")
        unknown = [name for name in test_classes if name not in classes]
        if unknown:
            raise DatasetError(f"imagefolder: {folder / 'test'} has class folders that {train_dir} lacks: "
                               f"{', '.join(unknown)}")
        files["test"] = list_images(folder / "test", test_classes, classes)
    info = DatasetInfo(channels, image_size, image_size, len(classes), tuple(classes))
    return ImageFolderSource(info, folder, files, test_fraction)
