"""Every dataset entry through torchvision's real reading code, on tiny files the test writes in the
dataset's own on-disk format (download: false); missing, truncated and damaged files; `cnnlab train`
on MNIST-format files; and no torch for the commands that only need a dataset's shape."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from cnnlab import testing
from cnnlab.data import torchvision_sources
from cnnlab.data.catalog import DATASETS
from cnnlab.data.resolve import check_available, dataset_info, dataset_source
from cnnlab.data.source import CACHE_DIR, DatasetCorruptError, DatasetError, DatasetMissingError
from cnnlab.data.torchvision_sources import TorchvisionSource
from cnnlab.spec import resolve

TORCHVISION = list(testing.FORMATS)
LENET5_MNIST = Path(__file__).parent.parent / "experiments" / "lenet5_mnist.yaml"


def source(name: str):
    return dataset_source(resolve({"data": {"dataset": name}}).data)


def written(name: str, root: Path, n_train: int = 30, n_test: int = 12):
    return testing.write_synthetic(name, root, n_train, n_test)


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    return message


def test_every_dataset_entry_is_tested():
    """Entries that read files in a torchvision format are tested here through FORMATS; the others
    have their own test files (test_data_imagefolder.py, test_shapes_dataset.py, test_data_files.py)."""
    assert set(DATASETS) - set(TORCHVISION) == {"shapes", "imagefolder", "csv", "npz"}
    assert all(isinstance(source(name), TorchvisionSource) for name in TORCHVISION)


@pytest.mark.parametrize("name", TORCHVISION)
def test_reads_the_real_format_exactly(tmp_path, name):
    train, test = written(name, tmp_path)
    splits = source(name).load(tmp_path, download=False, seed=0)
    for split, (images, labels) in (("train", train), ("test", test)):
        assert splits[split].images.dtype == torch.uint8
        assert torch.equal(splits[split].images, torch.from_numpy(images))
        assert torch.equal(splits[split].labels, torch.from_numpy(labels))


@pytest.mark.parametrize("name", TORCHVISION)
def test_declared_info_matches_what_loads(tmp_path, name):
    written(name, tmp_path)
    info = source(name).info
    assert len(info.class_names) == info.num_classes
    assert tuple(source(name).load(tmp_path, False, 0)["train"].images.shape[1:]) == info.shape


def test_class_names_are_torchvisions():
    from torchvision import datasets

    assert source("fashion_mnist").info.class_names == tuple(datasets.FashionMNIST.classes)
    assert source("kmnist").info.class_names == tuple(datasets.KMNIST.classes)
    assert list(source("mnist").info.class_names) == [c.split(" - ")[0] for c in datasets.MNIST.classes]
    names = torchvision_sources.CIFAR100
    assert len(names) == len(set(names)) == 100 and list(names) == sorted(names)


@pytest.mark.parametrize("name", TORCHVISION)
def test_missing_files_are_named_with_their_place(tmp_path, name):
    with pytest.raises(DatasetMissingError) as err:
        source(name).load(tmp_path / "data", download=False, seed=0)
    message = one_line(err)
    for file in source(name).files:
        assert str(tmp_path / "data" / file) in message
    assert "data.download is false" in message and message.endswith("--set data.dataset=shapes")


@pytest.mark.parametrize("name", TORCHVISION)
def test_one_missing_file_is_the_one_named(tmp_path, name):
    written(name, tmp_path)
    gone = source(name).files[-1]
    (tmp_path / gone).unlink()
    with pytest.raises(DatasetMissingError) as err:
        source(name).load(tmp_path, download=False, seed=0)
    assert f"expected {tmp_path / gone};" in one_line(err)


def test_availability_is_checked_without_torch_only_when_nothing_will_be_downloaded(tmp_path, monkeypatch):
    with pytest.raises(DatasetMissingError, match="MNIST/raw/t10k-labels-idx1-ubyte"):
        check_available(resolve({"data": {"dataset": "mnist", "root": str(tmp_path), "download": False}}).data)
    monkeypatch.setattr(torchvision_sources, "reachable", lambda urls: True)  # online: the download will work
    check_available(resolve({"data": {"dataset": "mnist", "root": str(tmp_path), "download": True}}).data)
    monkeypatch.setattr(torchvision_sources, "reachable", lambda urls: False)
    with pytest.raises(DatasetMissingError, match="its download hosts .* cannot be reached from here"):
        check_available(resolve({"data": {"dataset": "mnist", "root": str(tmp_path), "download": True}}).data)
    check_available(resolve({"data": {"dataset": "shapes", "root": str(tmp_path), "download": False}}).data)
    written("mnist", tmp_path)
    check_available(resolve({"data": {"dataset": "mnist", "root": str(tmp_path), "download": True}}).data)


def test_a_module_torchvision_reads_the_files_with_is_asked_for_before_any_run(tmp_path):
    """`pip install -e .` installs no SciPy, with which torchvision reads SVHN's .mat files: the pre-flight
    names it, where each run would have failed on its import."""
    assert source("svhn").needs == ("scipy",)
    written("svhn", tmp_path)
    lacking = dataclasses.replace(source("svhn"), needs=("scipy", "no_such_module_of_cnnlab"))
    with pytest.raises(DatasetError) as err:
        lacking.ensure_available(tmp_path, download=False)
    assert one_line(err) == ("svhn: torchvision reads its files with no_such_module_of_cnnlab, which is not installed "
                             "here: pip install no_such_module_of_cnnlab")
    source("svhn").ensure_available(tmp_path, download=False)  # SciPy is installed here


def test_the_download_hosts_are_torchvisions_own():
    from torchvision import datasets

    urls = {name: source(name).urls for name in TORCHVISION}
    assert urls["mnist"] == tuple(datasets.MNIST.mirrors)
    assert urls["fashion_mnist"] == tuple(datasets.FashionMNIST.mirrors)
    assert urls["kmnist"] == tuple(datasets.KMNIST.mirrors)
    assert urls["cifar10"] == (datasets.CIFAR10.url,) and urls["cifar100"] == (datasets.CIFAR100.url,)
    assert urls["svhn"] == tuple(datasets.SVHN.split_list[split][0] for split in ("train", "test"))


def test_whether_a_host_answers_is_known_within_the_bound(monkeypatch):
    import socket
    import time

    from cnnlab.data import download

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        assert download.reachable([f"http://127.0.0.1:{port}/mnist/"])
    assert not download.reachable([f"http://127.0.0.1:{port}/mnist/"])  # closed now: refused at once
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: time.sleep(30))  # packets dropped
    start = time.monotonic()
    assert not download.reachable(["https://example.org/a", "https://example.org/b"], timeout=0.5)
    assert time.monotonic() - start < 5  # the bound, not the 30 s a silent network would take


def test_a_sweep_on_a_dataset_that_cannot_be_had_fails_once_before_any_run(tmp_path):
    """Offline (as CI and this machine are, but for package registries), depth.yaml's 24 MNIST runs once
    made 24 failed run directories, each with the same download error."""
    if torchvision_sources.reachable(torchvision_sources.MNIST_URLS):
        pytest.skip("online: MNIST's download host answers here")
    experiment = Path(__file__).parent.parent / "experiments" / "depth.yaml"
    done = subprocess.run([sys.executable, "-m", "cnnlab", "train", str(experiment), "--jobs", "2", "--runs-dir",
                           str(tmp_path / "runs"), "--set", f"data.root={tmp_path / 'data'}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: mnist: dataset files not found")
    assert "cannot be reached from here" in done.stderr
    assert done.stderr.rstrip().endswith("--set data.dataset=shapes")
    assert not (tmp_path / "runs").exists()


def test_the_exact_mnist_layout_is_in_the_message(tmp_path):
    with pytest.raises(DatasetMissingError) as err:
        source("mnist").load(tmp_path, download=False, seed=0)
    assert f"{tmp_path}/MNIST/raw/train-images-idx3-ubyte" in one_line(err)


def test_a_packed_download_gets_a_hint(tmp_path):
    written("mnist", tmp_path)
    raw = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    raw.rename(raw.with_name(raw.name + ".gz"))
    with pytest.raises(DatasetMissingError) as err:
        source("mnist").load(tmp_path, download=False, seed=0)
    assert "found train-images-idx3-ubyte.gz: unpack it" in one_line(err)


@pytest.mark.parametrize("name", TORCHVISION)
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_files_are_one_clear_error(tmp_path, name, damage):
    written(name, tmp_path)
    victim = tmp_path / source(name).files[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] if damage == "truncated" else bytes(range(256)) * 8)
    with pytest.raises(DatasetCorruptError) as err:
        source(name).load(tmp_path, download=False, seed=0)
    assert "truncated or damaged" in one_line(err) or "may be damaged" in one_line(err)


def test_labels_that_disagree_with_the_images(tmp_path):
    (images, labels), test = written("mnist", tmp_path)
    testing.write_mnist(tmp_path, (images, labels[:-1]), test)
    with pytest.raises(DatasetCorruptError) as err:
        source("mnist").load(tmp_path, download=False, seed=0)
    assert "30 images but 29 labels" in one_line(err)


def test_labels_out_of_range(tmp_path):
    (images, labels), test = written("mnist", tmp_path)
    testing.write_mnist(tmp_path, (images, np.where(labels == 0, 12, labels)), test)
    with pytest.raises(DatasetCorruptError) as err:
        source("mnist").load(tmp_path, download=False, seed=0)
    assert "labels from 1 to 12, expected 0 to 9" in one_line(err)


def test_svhn_is_decoded_once_and_the_cache_follows_the_files(tmp_path, monkeypatch):
    train, _ = written("svhn", tmp_path)
    first = source("svhn").load(tmp_path, download=False, seed=0)
    assert len(list((tmp_path / CACHE_DIR).glob("svhn-*.pt"))) == 1

    def refuse(root, download):
        raise AssertionError("decoded the .mat files again")

    monkeypatch.setattr(torchvision_sources, "svhn_reader", refuse)
    again = source("svhn").load(tmp_path, download=False, seed=0)
    assert torch.equal(again["train"].images, first["train"].images)
    monkeypatch.undo()

    changed, _ = testing.write_synthetic("svhn", tmp_path, 20, 12, seed=5)  # new files: a new key
    fresh = source("svhn").load(tmp_path, download=False, seed=0)
    assert torch.equal(fresh["train"].images, torch.from_numpy(changed[0]))
    assert len(list((tmp_path / CACHE_DIR).glob("svhn-*.pt"))) == 2


# --------------------------------------------------------------------------- the command line


def test_cnnlab_train_on_mnist_format_files(cli, tmp_path):
    """The done-when of the issue: lenet5_mnist.yaml (download: true) trains from the IDX files it finds
    under data.root, without trying to download them."""
    testing.write_synthetic("mnist", tmp_path / "data", 200, 50)
    runs = tmp_path / "runs"
    result = cli("train", LENET5_MNIST, "--runs-dir", runs, "--set", f"data.root={tmp_path / 'data'}",
                 "--set", "train.epochs=1", "--set", "train.batch_size=32", "--set", "train.threads=1")
    assert result.exit_code == 0, result.output
    run = next(p for p in runs.glob("*/*") if p.is_dir())
    summary = json.loads((run / "summary.json").read_text())
    assert summary["input_shape"] == [1, 32, 32] and summary["classes"] == list("0123456789")
    assert summary["split_sizes"] == {"train": 180, "val": 20, "test": 50}
    assert len(summary["normalization"]["mean"]) == 1 and summary["normalization"]["std"][0] > 0
    assert yaml.safe_load((run / "spec.yaml").read_text())["data"]["pad"] == 2


def test_cnnlab_train_with_the_dataset_missing_says_where_to_put_it(cli, tmp_path):
    result = cli("train", LENET5_MNIST, "--runs-dir", tmp_path / "runs", "--set", f"data.root={tmp_path}",
                 "--set", "data.download=false")
    assert result.exit_code != 0
    assert f"{tmp_path}/MNIST/raw/train-images-idx3-ubyte" in result.output + result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_knowing_a_datasets_shape_imports_no_torch():
    code = ("import sys; from cnnlab.spec import resolve; from cnnlab.data.catalog import DATASETS; "
            "from cnnlab.data.resolve import dataset_info; "
            "[dataset_info(resolve({'data': {'dataset': n, 'pad': 2, 'resize': 20, 'classes': [0, 1], "
            "'augment': ['random_crop', 'hflip']}}).data) for n in DATASETS "
            "if n not in ('imagefolder', 'csv', 'npz')]; "  # entries of a user's files: test_data_files.py
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_dataset_errors_are_cnnlab_errors():
    from cnnlab.errors import CnnlabError

    assert issubclass(DatasetError, CnnlabError)
    assert dataset_info(resolve({"data": {"dataset": "cifar100"}}).data).num_classes == 100


def test_a_bug_in_a_reader_is_not_reported_as_damaged_files(tmp_path):
    """Only what damaged or missing files raise becomes a DatasetError; a bug keeps its traceback."""
    written("mnist", tmp_path)

    def buggy(root, download):
        raise TypeError("a bug in cnnlab's reader")

    broken = dataclasses.replace(source("mnist"), read=buggy)
    with pytest.raises(TypeError, match="a bug in cnnlab's reader"):
        broken.load(tmp_path, download=False, seed=0)
