"""Data augmentation: on the training device, on whole uint8 batches, deterministic by seed.

An entry takes its options (keyword-only) and returns a step `(images, generator) -> images` on a
uint8 N×C×H×W batch, drawing every random number from `generator` (a generator on the batch's
device), so the same seed gives the same augmented batches. Steps run before normalization: the
padding of `random_crop` is black (0), as with torchvision's RandomCrop(padding=...) before
ToTensor/Normalize. The validation and test splits are never augmented.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnlab.constraints import NonNegativeCount, Probability
from cnnlab.lazy import F, torch
from cnnlab.registry import Registry

AUGMENTATIONS = Registry("augmentation")

AUGMENT_SEED_OFFSET = 2_000_003  # augmentation draws from its own stream, not the shuffle's

Step = Callable[[Any, Any], Any]  # (uint8 images, torch.Generator) → images


@AUGMENTATIONS.register("none", "no augmentation")
def none() -> Step:
    return lambda images, generator: images


@AUGMENTATIONS.register("random_crop", "zero-pad every side, then crop the original size at a random offset")
def random_crop(*, padding: NonNegativeCount = 4) -> Step:
    def crop(images, generator):
        n, _, height, width = images.shape
        device = images.device
        padded = F.pad(images, (padding, padding, padding, padding)).permute(0, 2, 3, 1)  # N×H×W×C view
        dy = torch.randint(0, 2 * padding + 1, (n, 1, 1), generator=generator, device=device)
        dx = torch.randint(0, 2 * padding + 1, (n, 1, 1), generator=generator, device=device)
        rows = dy + torch.arange(height, device=device).view(1, -1, 1)
        cols = dx + torch.arange(width, device=device).view(1, 1, -1)
        batch = torch.arange(n, device=device).view(-1, 1, 1)
        # One gather for the whole batch; the N×H×W×C result, seen as N×C×H×W, is channels-last.
        return padded[batch, rows, cols].permute(0, 3, 1, 2)

    return crop


@AUGMENTATIONS.register("hflip", "mirror left-right, each image with probability p")
def hflip(*, p: Probability = 0.5) -> Step:
    def flip(images, generator):
        chosen = torch.rand(images.shape[0], generator=generator, device=images.device) < p
        return torch.where(chosen.view(-1, 1, 1, 1), images.flip(3), images)

    return flip


@dataclass
class Augmentation:
    """The spec's steps in order, with the generator they draw from."""

    steps: list[Step]
    generator: Any  # torch.Generator on the training device

    def __call__(self, images):
        for step in self.steps:
            images = step(images, self.generator)
        return images


def make_augmentation(choices: list, seed: int, device) -> Augmentation | None:
    """The augmentation `data.augment` asks for (a list of Choice), or None when it asks for none."""
    steps = [AUGMENTATIONS.build(c.name, **c.options) for c in choices if c.name != "none"]
    if not steps:
        return None
    generator = torch.Generator(device=device).manual_seed(seed + AUGMENT_SEED_OFFSET)
    return Augmentation(steps, generator)
