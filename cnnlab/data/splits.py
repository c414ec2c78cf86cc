"""Cutting splits: the stratified validation hold-out and the `subset` option, both seeded."""

from __future__ import annotations

import torch

from cnnlab.data.source import DatasetError, RawSplit

TEST_SUBSET_SEED = 0  # `subset` takes the same test images in every run, so test accuracies compare


def take(images: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """images[index] in the layout `images` is stored in: channels-last stays channels-last (as
    rows N×H×W×C, which index_select gathers twice as fast as advanced indexing)."""
    if images.dim() == 4 and not images.is_contiguous() and images.is_contiguous(memory_format=torch.channels_last):
        return images.permute(0, 2, 3, 1).index_select(0, index).permute(0, 3, 1, 2)
    return images.index_select(0, index)


def split_validation(split: RawSplit, fraction: float, seed: int) -> tuple[RawSplit, RawSplit | None]:
    """Hold out `fraction` of every class (rounded, at least one image of a class that has two),
    chosen by a generator seeded from `seed`, so class proportions match in both parts."""
    if fraction == 0:
        return split, None
    gen = torch.Generator().manual_seed(seed)
    val_idx = []
    for cls in torch.unique(split.labels):
        members = torch.nonzero(split.labels == cls).flatten()
        members = members[torch.randperm(len(members), generator=gen)]
        count = round(len(members) * fraction)
        count = max(count, 1) if len(members) > 1 else 0
        val_idx.append(members[:count])
    val = torch.cat(val_idx).sort().values if val_idx else torch.zeros(0, dtype=torch.int64)
    if len(val) == 0:
        return split, None
    if len(val) == len(split):
        raise DatasetError(f"data.val_fraction: {fraction} holds out every one of the {len(split)} training images "
                           f"(at least one of each class that has two); lower it or use more images")
    keep = torch.ones(len(split.labels), dtype=torch.bool)
    keep[val] = False
    train = keep.nonzero().flatten()
    return (RawSplit(take(split.images, train), split.labels[train]),
            RawSplit(take(split.images, val), split.labels[val]))


def take_subset(split: RawSplit, size: int | None, seed: int) -> RawSplit:
    """The first `size` images after a shuffle seeded by `seed` (kept in their original order)."""
    if size is None or size >= len(split):
        return split
    chosen = torch.randperm(len(split), generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return RawSplit(take(split.images, chosen), split.labels[chosen])
