"""Choosing classes: `classes: [3, 5]` keeps some classes (relabelled 0..k-1 in the order given),
`binary: {positive: [cat]}` makes them one class against the rest (label 1 vs 0), for the sigmoid head.

Classes are named by index or by name. The plan (`label_map`) needs no torch and no files, so an
unknown class is reported by `cnnlab shape` and the pre-flight, before any training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cnnlab.data.source import DatasetError, RawSplit
from cnnlab.registry import did_you_mean

if TYPE_CHECKING:
    from collections.abc import Sequence

SHOWN_NAMES = 20  # a message lists at most this many class names


class ClassSelectionError(DatasetError):
    """`classes` or `binary` naming a class the dataset does not have, or leaving fewer than two."""


@dataclass(frozen=True)
class LabelMap:
    new_label: tuple[int, ...]  # for every class of the dataset: its label after selection, −1 if dropped
    names: tuple[str, ...]  # the class names after selection

    @property
    def identity(self) -> bool:
        return self.new_label == tuple(range(len(self.new_label)))


def label_map(dataset: str, names: Sequence[str], classes: Sequence[int | str] | None,
              positive: Sequence[int | str] | None) -> LabelMap:
    """The relabelling `classes` and `binary.positive` ask for (either may be None: not used)."""
    if classes is None and positive is None:
        return LabelMap(tuple(range(len(names))), tuple(names))
    kept = resolve(dataset, names, classes, "data.classes") if classes is not None else list(range(len(names)))
    if positive is None:
        if len(kept) < 2:
            raise ClassSelectionError(f"data.classes: keep at least two classes, got {len(kept)}")
        new_label = [-1] * len(names)
        for label, index in enumerate(kept):
            new_label[index] = label
        return LabelMap(tuple(new_label), tuple(names[i] for i in kept))
    pos = resolve(dataset, names, positive, "data.binary.positive")
    outside = [names[i] for i in pos if i not in kept]
    if outside:
        raise ClassSelectionError(f"data.binary.positive: {', '.join(outside)} not among data.classes")
    if len(pos) == len(kept):
        raise ClassSelectionError("data.binary.positive: names every class kept, so none is left for label 0 "
                                  "(the rest)")
    new_label = [-1] * len(names)
    for index in kept:
        new_label[index] = int(index in pos)
    positive_name = "+".join(names[i] for i in pos)
    return LabelMap(tuple(new_label), (f"not {positive_name}", positive_name))


def resolve(dataset: str, names: Sequence[str], refs: Sequence[int | str], key: str) -> list[int]:
    """Class indices of `refs` (indices or names), checked: known, not repeated, not empty."""
    if not refs:
        raise ClassSelectionError(f"{key}: the list is empty; name at least one class")
    indices = []
    for ref in refs:
        if isinstance(ref, int):
            if not 0 <= ref < len(names):
                raise ClassSelectionError(f"{key}: class {ref} does not exist; {dataset} has classes "
                                          f"0 to {len(names) - 1}")
            index = ref
        elif ref in names:
            index = list(names).index(ref)
        else:
            shown = ", ".join(names[:SHOWN_NAMES]) + (f" ... ({len(names)} in all)" if len(names) > SHOWN_NAMES else "")
            raise ClassSelectionError(f"{key}: {dataset} has no class {ref!r}{did_you_mean(ref, names)}; "
                                      f"its classes are {shown} (or use indices 0 to {len(names) - 1})")
        if index in indices:
            raise ClassSelectionError(f"{key}: class {names[index]!r} is listed twice")
        indices.append(index)
    return indices


def relabel(split: RawSplit, mapping: LabelMap) -> RawSplit:
    """The images of the kept classes with their new labels (no copy when nothing changes)."""
    import torch

    from cnnlab.data.splits import take

    if mapping.identity:
        return split
    labels = torch.tensor(mapping.new_label, dtype=torch.int64)[split.labels]
    keep = labels >= 0
    if bool(keep.all()):
        return RawSplit(split.images, labels)
    kept = keep.nonzero().flatten()
    return RawSplit(take(split.images, kept), labels[kept])
