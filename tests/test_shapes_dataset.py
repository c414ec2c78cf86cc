"""The built-in shapes dataset: deterministic, balanced, well-formed, every class visible and distinct."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnlab.data import shapes_dataset
from cnnlab.data.shapes_dataset import CLASS_NAMES, ShapesOptionError, generate
from cnnlab.data.shapes_options import ShapesDrawing
from cnnlab.errors import CnnlabError

CLEAN = {"noise": 0.0, "clutter": 0}  # nothing but the shape on a flat background
CANONICAL = {**CLEAN, "position_jitter": 0.0, "max_rotation": 0.0, "min_scale": 0.7, "max_scale": 0.7}


def test_eight_named_classes():
    assert len(CLASS_NAMES) == len(set(CLASS_NAMES)) == 8
    assert all(name.isidentifier() and name.islower() for name in CLASS_NAMES)


def test_same_seed_gives_same_bytes():
    first, second = generate(64, ShapesDrawing(channels=3), seed=3), generate(64, ShapesDrawing(channels=3), seed=3)
    assert first[0].tobytes() == second[0].tobytes()
    assert first[1].tobytes() == second[1].tobytes()


def test_different_seeds_give_different_samples():
    (a, la), (b, lb) = generate(64, seed=0), generate(64, seed=1)
    assert not np.array_equal(a, b)
    assert not np.array_equal(la, lb)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", [8, 28, 33])
def test_shapes_and_dtypes(channels, image_size):
    images, labels = generate(16, ShapesDrawing(image_size=image_size, channels=channels))
    assert images.shape == (16, channels, image_size, image_size)
    assert images.dtype == np.uint8
    assert labels.shape == (16,)
    assert labels.dtype == np.int64


def test_zero_images():
    images, labels = generate(0, ShapesDrawing(channels=3))
    assert images.shape == (0, 3, 28, 28)
    assert labels.shape == (0,)


@pytest.mark.parametrize("n", [80, 83])
def test_classes_are_balanced_and_shuffled(n):
    _, labels = generate(n)
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    assert counts.max() - counts.min() <= 1
    assert counts.sum() == n
    assert not np.all(np.diff(labels) >= 0)


def test_rendering_in_chunks_gives_the_same_images(monkeypatch):
    whole = generate(50, ShapesDrawing(channels=3), seed=7)
    monkeypatch.setattr(shapes_dataset, "_CHUNK_PIXELS", 7 * 3 * 28 * 28)  # chunks of 7 images
    chunked = generate(50, ShapesDrawing(channels=3), seed=7)
    assert np.array_equal(whole[0], chunked[0])
    assert np.array_equal(whole[1], chunked[1])


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("image_size", [8, 28])
def test_every_class_draws_something(channels, image_size):
    images, labels = generate(160, ShapesDrawing(image_size=image_size, channels=channels, **CLEAN))
    flat = images.reshape(len(images), channels, -1).astype(int)
    # On a clean image the background is the most common value; ink is whatever differs from it.
    background = np.array([[np.bincount(ch).argmax() for ch in img] for img in flat])
    ink_pixels = (flat != background[:, :, None]).any(axis=1).sum(axis=1)
    for label, name in enumerate(CLASS_NAMES):
        assert ink_pixels[labels == label].min() >= image_size // 2, name


def test_color_images_have_color():
    images, _ = generate(32, ShapesDrawing(channels=3, **CLEAN))
    assert (images[:, 0] != images[:, 1]).any(axis=(1, 2)).mean() > 0.9


def test_grayscale_shapes_are_brighter_than_background():
    images, _ = generate(32, ShapesDrawing(**CLEAN))
    flat = images.reshape(32, -1)
    assert np.all(flat.max(axis=1) > np.median(flat, axis=1))


def _standardized(images):
    flat = images.reshape(len(images), -1).astype(float)
    flat -= flat.mean(axis=1, keepdims=True)
    return flat / flat.std(axis=1, keepdims=True)


def test_classes_are_told_apart_by_their_mean_image():
    """Centered, upright, noise-free shapes: a nearest-class-mean classifier gets them right."""
    train_x, train_y = generate(400, ShapesDrawing(**CANONICAL), seed=0)
    test_x, test_y = generate(200, ShapesDrawing(**CANONICAL), seed=1)
    train, test = _standardized(train_x), _standardized(test_x)
    means = np.stack([train[train_y == c].mean(axis=0) for c in range(len(CLASS_NAMES))])
    predicted = np.argmin(((test[:, None] - means[None]) ** 2).sum(axis=2), axis=1)
    assert (predicted == test_y).mean() > 0.95


def test_options_change_the_images():
    base = generate(32, seed=5)[0]
    for option in [{"noise": 0.0}, {"clutter": 0}, {"thickness": 0.15}, {"max_rotation": 0.0}]:
        assert not np.array_equal(generate(32, ShapesDrawing(**option), seed=5)[0], base), option


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"n": -1}, "n"),
        ({"n": 2.5}, "n"),
        ({"image_size": 7}, "image_size"),
        ({"channels": 2}, "channels"),
        ({"min_scale": 0.0}, "min_scale"),
        ({"min_scale": 0.6, "max_scale": 0.5}, "max_scale"),
        ({"max_scale": 1.5}, "max_scale"),
        ({"position_jitter": -0.1}, "position_jitter"),
        ({"max_rotation": 45.0}, "max_rotation"),
        ({"thickness": 0.0}, "thickness"),
        ({"thickness": float("nan")}, "thickness"),
        ({"min_contrast": 1.5}, "min_contrast"),
        ({"noise": -0.1}, "noise"),
        ({"clutter": -1}, "clutter"),
    ],
)
def test_impossible_options_name_the_argument(options, argument):
    n = options.pop("n", 4)
    with pytest.raises(ShapesOptionError) as caught:
        generate(n, ShapesDrawing(**options))
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, CnnlabError)
    message = str(caught.value)
    assert message.startswith(f"{argument}: ")
    assert "\n" not in message


def test_module_does_not_import_torch():
    code = "import sys, cnnlab.data.shapes_dataset; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("option", "expected"),
    [({"channels": 2}, "data.dataset.channels: "), ({"noise": -1.0}, "data.dataset.noise: "),
     ({"train_size": 0}, "data.dataset.train_size: must be >= 1")],
)
def test_bad_options_are_refused_before_training(cli, tmp_path, option, expected):
    spec = tmp_path / "exp.yaml"
    spec.write_text(json.dumps({"data": {"dataset": {"name": "shapes", **option}}}))
    result = cli("train", spec, "--dry-run")
    assert result.exit_code == 2 and expected in result.stderr, result.output


def test_every_seed_gets_other_training_images_but_the_same_test_images():
    """Across seeds only the test images stay put, so a spread of test accuracy measures the runs, not the test set."""
    from cnnlab.data.shapes_source import ShapesSource

    source = ShapesSource(image_size=16, train_size=50, test_size=40)
    a, b = source.load(Path("."), False, seed=0), source.load(Path("."), False, seed=1)
    assert torch.equal(a["test"].images, b["test"].images) and torch.equal(a["test"].labels, b["test"].labels)
    assert not torch.equal(a["train"].images, b["train"].images)
