"""`imagefolder`: a user's folder of class subfolders, in both layouts, decoded once into a cache
that follows the files and options; every way such a folder can be wrong is one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnlab.data import imagefolder
from cnnlab.data.pipeline import load_data
from cnnlab.data.resolve import dataset_info, dataset_source
from cnnlab.data.source import CACHE_DIR, TEST_SPLIT_SEED, DatasetCorruptError, DatasetError, DatasetMissingError
from cnnlab.spec import resolve
from cnnlab.testing import synthetic_images, write_imagefolder

NAMES = ("cat", "dog", "horse")


def folder_of(path: Path, n: int = 30, channels: int = 3, size: int = 16, seed: int = 0):
    images, labels = synthetic_images(n, (channels, size, size), len(NAMES), seed=seed)
    write_imagefolder(path, images, labels, NAMES)
    return images, labels


def spec_for(path: Path, root: Path, **options):
    return resolve({"data": {"dataset": {"name": "imagefolder", "path": str(path), **options},
                             "root": str(root)}}).data


def load(path: Path, root: Path, seed: int = 0, **options):
    spec = spec_for(path, root, **options)
    return dataset_source(spec).load(Path(spec.root), False, seed)


def test_flat_layout_holds_out_a_stratified_test_split(tmp_path):
    images, labels = folder_of(tmp_path / "pets", n=30)
    splits = load(tmp_path / "pets", tmp_path / "data", image_size=16, test_fraction=0.2)
    assert (len(splits["train"]), len(splits["test"])) == (24, 6)
    assert sorted(splits["test"].labels.tolist()) == [0, 0, 1, 1, 2, 2]
    every = torch.cat([splits["train"].images, splits["test"].images])
    assert sorted(bytes(x.numpy()) for x in every) == sorted(bytes(x) for x in images)  # PNG is lossless


def test_the_held_out_test_split_is_the_same_for_every_seed(tmp_path):
    folder_of(tmp_path / "pets")
    a = load(tmp_path / "pets", tmp_path / "data", seed=0, image_size=16)
    b = load(tmp_path / "pets", tmp_path / "data", seed=5, image_size=16)
    assert torch.equal(a["test"].images, b["test"].images) and TEST_SPLIT_SEED == 0


def test_train_and_test_folders_are_used_as_given(tmp_path):
    folder_of(tmp_path / "pets" / "train", n=12)
    images, labels = synthetic_images(4, (3, 16, 16), 2, seed=3)  # test/ has only two of the classes
    write_imagefolder(tmp_path / "pets" / "test", images, labels + 1, NAMES)
    spec = spec_for(tmp_path / "pets", tmp_path / "data", image_size=16)
    assert dataset_info(spec).class_names == NAMES
    splits = dataset_source(spec).load(Path(spec.root), False, 0)
    assert len(splits["train"]) == 12 and sorted(splits["test"].labels.tolist()) == sorted((labels + 1).tolist())


def test_images_are_converted_and_resized(tmp_path):
    folder_of(tmp_path / "pets", channels=3, size=20)
    spec = spec_for(tmp_path / "pets", tmp_path / "data", image_size=8, channels=1)
    data = load_data(spec, 0, torch.device("cpu"))
    assert data.info.shape == (1, 8, 8) == tuple(data.train.images.shape[1:])


def test_other_files_are_ignored(tmp_path):
    folder_of(tmp_path / "pets", n=9)
    (tmp_path / "pets" / "cat" / "notes.txt").write_text("not an image")
    (tmp_path / "pets" / "cat" / ".DS_Store").write_bytes(b"\0\1")
    (tmp_path / "pets" / ".hidden").mkdir()
    splits = load(tmp_path / "pets", tmp_path / "data", image_size=16)
    assert len(splits["train"]) + len(splits["test"]) == 9


def test_decoded_once_then_cached_until_files_or_options_change(tmp_path, monkeypatch):
    folder_of(tmp_path / "pets", n=12)
    first = load(tmp_path / "pets", tmp_path / "data", image_size=16)
    assert len(list((tmp_path / "data" / CACHE_DIR).glob("imagefolder-pets-*.pt"))) == 1

    def refuse(path, size, channels):
        raise AssertionError(f"decoded {path} again")

    monkeypatch.setattr(imagefolder, "decode", refuse)
    again = load(tmp_path / "pets", tmp_path / "data", image_size=16)
    assert torch.equal(again["train"].images, first["train"].images)
    monkeypatch.undo()

    load(tmp_path / "pets", tmp_path / "data", image_size=8)  # another option: decoded again
    extra = np.full((16, 16, 3), 200, dtype=np.uint8)
    Image.fromarray(extra).save(tmp_path / "pets" / "dog" / "new.png")  # another file: decoded again
    grown = load(tmp_path / "pets", tmp_path / "data", image_size=16)
    assert len(grown["train"]) + len(grown["test"]) == 13
    assert len(list((tmp_path / "data" / CACHE_DIR).glob("imagefolder-pets-*.pt"))) == 3


@pytest.mark.parametrize(
    ("make", "error", "expected"),
    [
        (lambda p: None, DatasetMissingError, "imagefolder: no folder {p} (data.dataset.path)"),
        (lambda p: p.mkdir(), DatasetError, "imagefolder: {p} has no class folders"),
        (lambda p: (p / "cat").mkdir(parents=True), DatasetError, "class folder {p}/cat has no images"),
    ],
)
def test_folder_mistakes_are_found_before_any_decoding(tmp_path, make, error, expected):
    path = tmp_path / "pets"
    make(path)
    with pytest.raises(error) as err:
        dataset_info(spec_for(path, tmp_path / "data"))
    assert expected.format(p=path) in str(err.value) and "\n" not in str(err.value)


def test_a_class_folder_without_images_among_good_ones(tmp_path):
    folder_of(tmp_path / "pets")
    (tmp_path / "pets" / "zebra").mkdir()
    (tmp_path / "pets" / "zebra" / "readme.txt").write_text("soon")
    with pytest.raises(DatasetError, match="class folder .*zebra has no images"):
        dataset_info(spec_for(tmp_path / "pets", tmp_path / "data"))


def test_an_undecodable_image_is_named(tmp_path):
    folder_of(tmp_path / "pets")
    bad = tmp_path / "pets" / "dog" / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    with pytest.raises(DatasetCorruptError) as err:
        load(tmp_path / "pets", tmp_path / "data", image_size=16)
    assert f"imagefolder: cannot decode {bad}" in str(err.value) and "\n" not in str(err.value)


def test_a_test_class_the_training_folder_lacks(tmp_path):
    folder_of(tmp_path / "pets" / "train")
    (tmp_path / "pets" / "test" / "zebra").mkdir(parents=True)
    with pytest.raises(DatasetError, match="has class folders that .* lacks: zebra"):
        dataset_info(spec_for(tmp_path / "pets", tmp_path / "data"))


def test_classes_by_folder_name(tmp_path):
    folder_of(tmp_path / "pets")
    spec = resolve({"data": {"dataset": {"name": "imagefolder", "path": str(tmp_path / "pets"), "image_size": 16},
                             "root": str(tmp_path / "data"), "classes": ["horse", "cat"]}}).data
    data = load_data(spec, 0, torch.device("cpu"))
    assert data.info.class_names == ("horse", "cat") and data.info.num_classes == 2


@pytest.mark.parametrize(("options", "expected"), [({"image_size": 0}, "data.dataset.image_size: must be >= 1"),
                                                   ({"test_fraction": 1.0}, "data.dataset.test_fraction: must be")])
def test_bad_options(tmp_path, options, expected):
    folder_of(tmp_path / "pets")
    with pytest.raises(DatasetError, match=expected):
        dataset_info(spec_for(tmp_path / "pets", tmp_path / "data", **options))
