"""From files to batches: split sizes and stratification, subset, class selection and binary labels,
resize and pad, normalization statistics (train split only, cached), and the batches themselves."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from cnnlab import testing
from cnnlab.data import normalize
from cnnlab.data.classes import ClassSelectionError
from cnnlab.data.normalize import Normalizer, channel_stats
from cnnlab.data.pipeline import Batches, Split, load_data
from cnnlab.data.resolve import dataset_info
from cnnlab.data.source import CACHE_DIR, DatasetError, RawSplit
from cnnlab.data.splits import split_validation, take_subset
from cnnlab.spec import resolve

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory) -> Path:
    """100 training images per digit, 20 test images per digit, in the MNIST IDX layout."""
    root = tmp_path_factory.mktemp("data")
    testing.write_synthetic("mnist", root, 1000, 200)
    return root


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    testing.write_synthetic("cifar10", root, 300, 100)
    return root


def data_spec(root: Path, dataset: str = "mnist", **data):
    return resolve({"data": {"dataset": dataset, "root": str(root), "download": False, **data}}).data


def load(root: Path, dataset: str = "mnist", seed: int = 0, **data):
    return load_data(data_spec(root, dataset, **data), seed, CPU)


def everything(split) -> list[bytes]:
    return sorted(bytes(image.numpy()) for image in split.images)


# --------------------------------------------------------------------------- splits


def test_validation_split_is_stratified_disjoint_and_seeded():
    labels = torch.arange(10).repeat_interleave(torch.tensor([30, 30, 30, 30, 30, 20, 20, 20, 10, 10]))
    images = torch.arange(len(labels), dtype=torch.int64).view(-1, 1, 1, 1)  # the index, to follow each image
    split = RawSplit(images, labels)
    train, val = split_validation(split, 0.1, seed=0)
    assert Counter(val.labels.tolist()) == {0: 3, 1: 3, 2: 3, 3: 3, 4: 3, 5: 2, 6: 2, 7: 2, 8: 1, 9: 1}
    assert sorted(train.images.flatten().tolist() + val.images.flatten().tolist()) == list(range(len(labels)))
    again, _ = split_validation(split, 0.1, seed=0)
    other, _ = split_validation(split, 0.1, seed=1)
    assert torch.equal(again.images, train.images) and not torch.equal(other.images, train.images)


def test_split_sizes_through_load_data(mnist_root):
    data = load(mnist_root, val_fraction=0.2)
    assert (len(data.train), len(data.val), len(data.test)) == (800, 200, 200)
    assert Counter(data.val.labels.tolist()) == dict.fromkeys(range(10), 20)
    assert load(mnist_root, val_fraction=0.0).val is None


def test_subset_takes_n_per_split_train_by_seed_test_fixed(mnist_root):
    a, b = load(mnist_root, seed=0, subset=100), load(mnist_root, seed=1, subset=100)
    assert len(a.train) + len(a.val) == 100 and len(a.test) == 100
    assert everything(a.test) == everything(b.test)
    assert everything(a.train) != everything(b.train)
    assert len(load(mnist_root, subset=5000).test) == 200  # more than there is: all of it


def test_take_subset_is_a_seeded_shuffle_kept_in_order():
    split = RawSplit(torch.arange(50).view(-1, 1, 1, 1), torch.zeros(50, dtype=torch.int64))
    chosen = take_subset(split, 10, seed=3).images.flatten().tolist()
    assert chosen == sorted(chosen) and len(set(chosen)) == 10 and chosen != list(range(10))
    assert chosen == take_subset(split, 10, seed=3).images.flatten().tolist()


# --------------------------------------------------------------------------- classes and binary


def test_classes_keep_those_relabelled_in_the_order_given(mnist_root):
    everything_loaded = load(mnist_root, val_fraction=0.0)
    data = load(mnist_root, val_fraction=0.0, classes=[5, 3])
    assert data.info.num_classes == 2 and data.info.class_names == ("5", "3")
    assert Counter(data.train.labels.tolist()) == {0: 100, 1: 100}
    fives = everything_loaded.train.images[everything_loaded.train.labels == 5]
    assert everything(RawSplit(fives, None)) == everything(RawSplit(data.train.images[data.train.labels == 0], None))
    assert set(data.test.labels.tolist()) == {0, 1}


def test_classes_by_name(cifar_root):
    data = load(cifar_root, "cifar10", classes=["cat", "dog"])
    assert data.info.class_names == ("cat", "dog") and set(data.train.labels.tolist()) == {0, 1}


def test_binary_is_one_class_against_the_rest(mnist_root):
    original = load(mnist_root, val_fraction=0.0)
    data = load(mnist_root, val_fraction=0.0, binary={"positive": [3]})
    assert data.info.num_classes == 2 and data.info.class_names == ("not 3", "3")
    assert torch.equal(data.train.labels, (original.train.labels == 3).long())
    both = load(mnist_root, val_fraction=0.0, classes=[3, 5, 8], binary={"positive": [3, 8]})
    assert len(both.train) == 300 and Counter(both.train.labels.tolist()) == {1: 200, 0: 100}
    assert both.info.class_names == ("not 3+8", "3+8")


def test_binary_trains_a_sigmoid_head(mnist_root):
    from cnnlab.shape.plan import build_plan

    spec = resolve({"data": {"dataset": "cifar10", "binary": {"positive": ["cat"]}}, "model": {"head": "sigmoid"}})
    assert build_plan(spec.model, dataset_info(spec.data))[-1][1].out_features == 1


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"classes": ["kat"]}, "data.classes: cifar10 has no class 'kat' (did you mean \"cat\"?)"),
        ({"classes": [10]}, "data.classes: class 10 does not exist; cifar10 has classes 0 to 9"),
        ({"classes": [-1]}, "data.classes: class -1 does not exist"),
        ({"classes": [3, "cat"]}, "data.classes: class 'cat' is listed twice"),
        ({"classes": []}, "data.classes: the list is empty"),
        ({"classes": [3]}, "data.classes: keep at least two classes, got 1"),
        ({"classes": [3, 5], "binary": {"positive": ["bird"]}}, "data.binary.positive: bird not among data.classes"),
        ({"classes": [3, 5], "binary": {"positive": [3, 5]}}, "data.binary.positive: names every class kept"),
        ({"binary": {"positive": ["catt"]}}, "data.binary.positive: cifar10 has no class 'catt'"),
    ],
)
def test_class_selection_errors_are_one_line_before_any_data(data, expected):
    with pytest.raises(ClassSelectionError) as err:
        dataset_info(resolve({"data": {"dataset": "cifar10", **data}}).data)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_a_class_with_no_images_left_is_an_error(tmp_path):
    train = testing.synthetic_images(40, (1, 28, 28), 2)
    testing.write_mnist(tmp_path, train, train)  # only digits 0 and 1
    with pytest.raises(DatasetError, match="the training split of mnist has no images of the chosen classes"):
        load(tmp_path, classes=[5, 7])


# --------------------------------------------------------------------------- resize and pad


@pytest.mark.parametrize(("resize", "pad"), [(None, 0), (None, 2), (20, 0), ([24, 16], 3)])
def test_declared_shape_is_the_loaded_shape(mnist_root, resize, pad):
    spec = data_spec(mnist_root, resize=resize, pad=pad)
    data = load_data(spec, 0, CPU)
    assert tuple(data.train.images.shape[1:]) == tuple(data.test.images.shape[1:]) == dataset_info(spec).shape
    assert data.info == dataset_info(spec)


def test_pad_adds_black_borders_around_the_same_image(mnist_root):
    plain, padded = load(mnist_root, val_fraction=0.0), load(mnist_root, val_fraction=0.0, pad=2)
    assert torch.equal(padded.train.images[:, :, 2:-2, 2:-2], plain.train.images)
    border = padded.train.images.clone()
    border[:, :, 2:-2, 2:-2] = 0
    assert int(border.max()) == 0


def test_resize_keeps_a_flat_image_flat():
    from cnnlab.data.geometry import reshape_split

    flat = RawSplit(torch.full((3, 1, 28, 28), 77, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64))
    out = reshape_split(flat, (14, 20), 1)
    assert out.images.shape == (3, 1, 16, 22) and out.images.dtype == torch.uint8
    assert int(out.images[:, :, 1:-1, 1:-1].min()) == int(out.images.max()) == 77


# --------------------------------------------------------------------------- normalization


def batch_stats(batches: Batches) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.cat([x for x, _ in batches.in_order()]).double()
    return x.mean(dim=(0, 2, 3)), x.std(dim=(0, 2, 3))


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_normalized_training_split_has_mean_0_and_std_1_per_channel(mnist_root, cifar_root, dataset):
    data = load(mnist_root if dataset == "mnist" else cifar_root, dataset, pad=2)
    mean, std = batch_stats(Batches(data.train, data.normalizer, 64, channels_last=True))
    assert mean.shape == (1 if dataset == "mnist" else 3,)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-4)
    assert torch.allclose(std, torch.ones_like(std), atol=1e-3)


def test_center_subtracts_the_training_mean_and_keeps_the_scale(mnist_root):
    """normalize: center is the lecture's mean subtraction alone: mean 0, the std of the raw [0, 1] pixels."""
    data = load(mnist_root, normalize="center")
    mean, std = batch_stats(Batches(data.train, data.normalizer, 64, channels_last=True))
    raw_std = data.train.images.double().std() / 255
    assert abs(mean.item()) < 1e-4 and std.item() == pytest.approx(raw_std.item(), rel=1e-3)


def test_statistics_come_from_the_training_part_only(mnist_root):
    data = load(mnist_root)
    assert data.normalizer == normalize.Normalizer(*channel_stats(data.train.images))
    with_val = torch.cat([data.train.images, data.val.images])
    assert data.normalizer.mean != channel_stats(with_val)[0]


def test_channel_stats_are_exact():
    images = torch.randint(0, 256, (50, 3, 7, 5), dtype=torch.uint8)
    mean, std = channel_stats(images)
    x = images.double().transpose(0, 1).reshape(3, -1) / 255
    assert torch.allclose(torch.tensor(mean, dtype=torch.float64), x.mean(1), atol=1e-12)
    assert torch.allclose(torch.tensor(std, dtype=torch.float64), x.std(1, unbiased=False), atol=1e-12)


def test_fixed_and_no_normalization(mnist_root):
    assert load(mnist_root, normalize="none").normalizer == normalize.Normalizer((0.0,), (1.0,))
    fixed = load(mnist_root, normalize={"mean": [0.5], "std": [0.25]}).normalizer
    assert fixed == normalize.Normalizer((0.5,), (0.25,))


def test_fixed_values_must_match_the_channels():
    with pytest.raises(DatasetError, match="data.normalize: 1 mean/std values for cifar10's 3-channel images"):
        dataset_info(resolve({"data": {"dataset": "cifar10", "normalize": {"mean": [0.5], "std": [0.2]}}}).data)


def test_statistics_are_cached_next_to_the_data_and_follow_the_options(tmp_path, monkeypatch):
    testing.write_synthetic("mnist", tmp_path, 200, 50)
    first = load(tmp_path)
    cached = list((tmp_path / CACHE_DIR).glob("stats-mnist-*.json"))
    assert len(cached) == 1

    def refuse(images):
        raise AssertionError("recomputed cached statistics")

    monkeypatch.setattr(normalize, "channel_stats", refuse)
    assert load(tmp_path).normalizer == first.normalizer
    monkeypatch.undo()

    load(tmp_path, classes=[1, 2])  # another training split: another file
    load(tmp_path, seed=1)
    assert len(list((tmp_path / CACHE_DIR).glob("stats-mnist-*.json"))) == 3
    testing.write_synthetic("mnist", tmp_path, 200, 50, seed=9)  # the files changed
    assert load(tmp_path).normalizer != first.normalizer


def test_generated_data_leave_no_cache(tmp_path):
    spec = resolve({"data": {"dataset": {"name": "shapes", "train_size": 40, "test_size": 10},
                             "root": str(tmp_path / "data")}}).data
    load_data(spec, 0, CPU)
    assert not (tmp_path / "data").exists()


# --------------------------------------------------------------------------- batches


@pytest.mark.parametrize(("images", "batch", "steps"), [(65, 32, 2), (64, 32, 2), (66, 32, 3), (1, 32, 1)])
def test_steps_per_epoch_counts_the_batches_a_shuffled_epoch_yields(images, batch, steps):
    """A last batch of one image is skipped in training (batch norm cannot train on it): the scheduler's
    and the progress bar's step count must skip it too."""
    split = Split(torch.zeros(images, 1, 4, 4, dtype=torch.uint8), torch.zeros(images, dtype=torch.int64))
    batches = Batches(split, Normalizer((0.0,), (1.0,)), batch, channels_last=False)
    assert batches.steps_per_epoch == steps == len(list(batches.shuffled(torch.Generator().manual_seed(0))))


def test_an_epoch_shows_every_training_image_once_normalized(mnist_root):
    data = load(mnist_root, subset=300)
    batches = Batches(data.train, data.normalizer, 64, channels_last=True)
    xs, ys = zip(*batches.shuffled(torch.Generator().manual_seed(0)), strict=True)
    x, y = torch.cat(xs), torch.cat(ys)
    assert len(xs) == len(batches) and x.dtype == torch.float32 and len(y) == len(data.train)
    assert xs[0].is_contiguous(memory_format=torch.channels_last)
    expected = (data.train.images.double() / 255 - data.normalizer.mean[0]) / data.normalizer.std[0]
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    assert torch.allclose(x, expected[order].float(), atol=1e-5)
    assert torch.equal(y, data.train.labels[order])


def test_in_order_batches_are_the_split_in_order(mnist_root):
    data = load(mnist_root, normalize="none")
    x = torch.cat([x for x, _ in Batches(data.test, data.normalizer, 64, channels_last=False).in_order()])
    assert torch.allclose(x, data.test.images.float() / 255)


@pytest.mark.parametrize("channels_last", [True, False])
def test_colour_batches_in_either_layout_hold_the_same_values(cifar_root, channels_last):
    data = load(cifar_root, "cifar10")
    assert data.train.images.is_contiguous(memory_format=torch.channels_last)  # stored as the conv nets want it
    x = torch.cat([x for x, _ in Batches(data.test, data.normalizer, 64, channels_last).in_order()])
    layout = torch.channels_last if channels_last else torch.contiguous_format
    assert x.is_contiguous(memory_format=layout)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (data.normalizer.mean, data.normalizer.std))
    assert torch.allclose(x, (data.test.images.float() / 255 - mean) / std, atol=1e-5)
