"""Each configuration as `cnnlab inspect` shows it, in its table and its depth plot: its label, its
layers at init and at one epoch, and the flags they raise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cnnlab.compare.diagnose import Diagnosed
from cnnlab.compare.flags import Flag, flags
from cnnlab.compare.labels import configuration_labels
from cnnlab.compare.load import MISSING
from cnnlab.compare.metrics import CompareError


@dataclass
class View:
    """One configuration as inspect shows it: its label, layers at init and at the chosen epoch, flags."""

    label: str
    diagnosed: Diagnosed
    epoch: int
    config: dict[str, Any]  # the differing spec keys

    @property
    def epochs(self) -> list[int]:
        return [0] if self.epoch == 0 else [0, self.epoch]

    def flags(self, epoch: int) -> list[Flag]:
        return flags(self.diagnosed.at(epoch))


def build_views(diagnosed: Sequence[Diagnosed], keys: Sequence[str], epoch: int | None) -> list[View]:
    """A View per configuration, at `epoch` (default: the last epoch its runs all recorded)."""
    labels = configuration_labels([d.row for d in diagnosed], [d.runs for d in diagnosed], keys)
    views = []
    for d, label in zip(diagnosed, labels, strict=True):
        recorded = sorted(d.epochs)
        if 0 not in recorded:
            raise CompareError(f"{label}: its diagnostics have no record at init (epoch 0)")
        chosen = recorded[-1] if epoch is None else epoch
        if chosen not in recorded:
            raise CompareError(f"--epoch {epoch}: not recorded for {label} (recorded: "
                               f"{', '.join(map(str, recorded))})")
        config = {k: None if (v := d.row.value(k)) is MISSING else v for k in keys}
        views.append(View(label, d, chosen, config))
    return views
