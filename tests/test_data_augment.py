"""Augmentation: every registered step keeps the batch's shape and type and is deterministic by seed;
random_crop is a shifted window of the zero-padded image; hflip mirrors; training batches only."""

from __future__ import annotations

import pytest
import torch

from cnnlab.data.augment import AUGMENTATIONS, make_augmentation
from cnnlab.data.pipeline import Batches, load_data
from cnnlab.spec import Choice, SpecError, resolve

CPU = torch.device("cpu")


def batch(n: int = 16, channels: int = 3, size: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(1, 256, (n, channels, size, size), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(seed))


def augment(*steps, seed: int = 0):
    return make_augmentation([Choice.parse(s) for s in steps], seed, CPU)


@pytest.mark.parametrize("name", AUGMENTATIONS.names())
def test_every_step_keeps_shape_and_dtype_and_is_deterministic(name):
    images = batch()
    step = AUGMENTATIONS.build(name)
    outs = [step(images, torch.Generator().manual_seed(7)) for _ in range(2)]
    assert outs[0].shape == images.shape and outs[0].dtype == torch.uint8
    assert torch.equal(outs[0], outs[1])


def test_same_seed_same_batches_other_seed_other_batches():
    images = batch()
    a, b, c = augment("random_crop", "hflip", seed=0), augment("random_crop", "hflip", seed=0), \
        augment("random_crop", "hflip", seed=1)
    first = [a(images) for _ in range(3)]
    assert all(torch.equal(x, y) for x, y in zip(first, [b(images) for _ in range(3)], strict=True))
    assert not torch.equal(first[0], c(images))
    assert not torch.equal(first[0], first[1])  # the stream moves on from batch to batch


def test_random_crop_is_a_window_of_the_zero_padded_image():
    images, pad = batch(n=32), 3
    out = AUGMENTATIONS.build("random_crop", padding=pad)(images, torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(images, (pad,) * 4)
    offsets = set()
    for original, cropped in zip(padded, out, strict=True):
        found = [(dy, dx) for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)
                 if torch.equal(original[:, dy:dy + 12, dx:dx + 12], cropped)]
        assert found, "a crop that is no window of the padded image"
        offsets.add(found[0])
    assert len(offsets) > 5  # offsets are drawn per image


def test_random_crop_without_padding_is_the_identity():
    images = batch()
    assert torch.equal(AUGMENTATIONS.build("random_crop", padding=0)(images, torch.Generator()), images)


def test_hflip_mirrors_each_image_or_leaves_it():
    images = batch(n=64)
    out = AUGMENTATIONS.build("hflip")(images, torch.Generator().manual_seed(0))
    flipped = [torch.equal(o, i.flip(2)) for o, i in zip(out, images, strict=True)]
    kept = [torch.equal(o, i) for o, i in zip(out, images, strict=True)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True)) and 10 < sum(flipped) < 54
    assert torch.equal(AUGMENTATIONS.build("hflip", p=1.0)(images, torch.Generator()), images.flip(3))
    assert torch.equal(AUGMENTATIONS.build("hflip", p=0.0)(images, torch.Generator()), images)


@pytest.mark.parametrize("augment_value", ["none", [], ["none"]])
def test_none_means_no_augmentation(augment_value):
    spec = resolve({"data": {"augment": augment_value}})
    assert make_augmentation(spec.data.augment, 0, CPU) is None


@pytest.mark.parametrize(
    ("augment_value", "expected"),
    [
        ([{"name": "random_crop", "padding": -2}],
         "data.augment[0]: augmentation 'random_crop' option 'padding': Input should be greater than or equal to 0"),
        (["hflip", {"name": "hflip", "p": 1.5}],
         "data.augment[1]: augmentation 'hflip' option 'p': Input should be less than or equal to 1, got 1.5"),
        (["crop"], "data.augment[0]: unknown augmentation 'crop'"),
        ([{"name": "hflip", "prob": 0.2}], "augmentation 'hflip' has no option 'prob'"),
    ],
)
def test_bad_augmentation_is_a_spec_error(augment_value, expected):
    with pytest.raises(SpecError) as err:
        resolve({"data": {"augment": augment_value}})
    assert expected in str(err.value)


def test_training_batches_are_augmented_evaluation_batches_are_not():
    spec = resolve({"data": {"dataset": {"name": "shapes", "train_size": 64, "test_size": 16, "channels": 3},
                             "augment": ["hflip"], "normalize": "none", "val_fraction": 0.25}}).data
    data = load_data(spec, 0, CPU)
    assert data.train.augment is not None and data.val.augment is None and data.test.augment is None
    plain = torch.cat([x for x, _ in Batches(data.train, data.normalizer, 16, True).in_order()])
    assert torch.allclose(plain, data.train.images.float() / 255)
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    seen = torch.cat([x for x, _ in Batches(data.train, data.normalizer, 16, True).shuffled(
        torch.Generator().manual_seed(0))])
    originals = data.train.images[order].float() / 255
    mirrored = [torch.allclose(s, o.flip(2)) and not torch.allclose(s, o) for s, o in zip(seen, originals, strict=True)]
    kept = [torch.allclose(s, o) for s, o in zip(seen, originals, strict=True)]
    assert any(mirrored) and any(kept) and all(m or k for m, k in zip(mirrored, kept, strict=True))
    assert seen.is_contiguous(memory_format=torch.channels_last)


def test_augmented_training_is_deterministic_by_seed():
    spec = resolve({"data": {"dataset": {"name": "shapes", "train_size": 64, "test_size": 16},
                             "augment": ["random_crop", "hflip"]}}).data

    def epoch(seed: int) -> torch.Tensor:
        data = load_data(spec, seed, CPU)
        batches = Batches(data.train, data.normalizer, 16, True)
        return torch.cat([x for x, _ in batches.shuffled(torch.Generator().manual_seed(seed))])

    assert torch.equal(epoch(0), epoch(0)) and not torch.equal(epoch(0), epoch(1))
