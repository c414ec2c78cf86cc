"""Distributions through training on the probe batch, into distributions.csv: the pictures of the
papers behind the lecture.

- Ioffe & Szegedy (2015), Fig. 1 (b, c): the 15th, 50th and 85th percentiles of a sigmoid's input
  over training, which drift without batch norm and stay put with it. Every train.diagnostics.steps
  optimizer steps (and at init), per weighted layer, the PERCENTILES of the pre-activation (the
  input of the nonlinearity) and of the activation.
- Glorot & Bengio (2010), Fig. 6 and 7: normalized histograms, per layer, of the activations and of
  the back-propagated gradients ∂L/∂activation. At init and at every epoch diagnostics.csv records,
  HISTOGRAM_BINS masses that sum to 1, over the range [low, high] of the values (recorded with them).

Each is of at most SAMPLE values per layer: all of them when the layer has fewer on the probe batch,
else a fixed random sample of positions (images × units × pixels), the same at every record and for
every quantity, so that the cost stays a small share of training whatever the layer's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from cnnlab.models.builder import Weighted
from cnnlab.rundir.csv_files import distributions_csv, parse_distributions
from cnnlab.rundir.records import (
    HISTOGRAM_BINS,
    HISTOGRAM_STATISTICS,
    PERCENTILES,
    DistributionRow,
    RecordError,
    histogram_rows,
    percentile_statistic,
    read_text,
)
from cnnlab.rundir.store import RunStore
from cnnlab.train.probe import Probed

SAMPLE = 8_192  # values per layer that a record describes: ±0.15 percentile points of sampling error at the 2nd
POINTS = 20  # percentile records per run when train.diagnostics.steps is null (and one at init)
SAMPLE_SEED = 0  # the positions sampled are the same in every run of a layer of that size
DEGENERATE_HALF_WIDTH = 0.5  # the range of a histogram whose values are all equal: that value ± this


def steps_between(steps: int | None, total_steps: int) -> int:
    """Optimizer steps between two percentile records: `steps`, or about POINTS per run."""
    return steps or max(1, math.ceil(total_steps / POINTS))


def sample_positions(numel: int, layer: int) -> torch.Tensor | None:
    """SAMPLE distinct positions of a flattened layer output of `numel` values, in order (None: all)."""
    if numel <= SAMPLE:
        return None
    generator = torch.Generator().manual_seed(SAMPLE_SEED + layer)
    # A permutation of every position costs about 70 ms for a layer of 1.6M values (a tenth of a record's
    # budget); the distinct ones among 2·SAMPLE uniform draws, then SAMPLE of those at random, are the
    # same uniform sample (every set of SAMPLE positions equally likely) for the price of 2·SAMPLE.
    drawn = torch.randint(numel, (2 * SAMPLE,), generator=generator).unique()
    if drawn.numel() < SAMPLE:  # a layer barely larger than the sample: its permutation is cheap
        return torch.randperm(numel, generator=generator)[:SAMPLE].sort().values
    return drawn[torch.randperm(drawn.numel(), generator=generator)[:SAMPLE]].sort().values


def ascending(values: torch.Tensor) -> torch.Tensor:
    """`values` sorted. On the CPU through numpy: torch's CPU sort of 8,192 floats takes about 0.5 ms,
    numpy's 0.02 (measured), and a record sorts 2 × layers of them."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sort(values.numpy()))
    return values.sort().values


def percentiles(values: torch.Tensor) -> torch.Tensor:
    """The PERCENTILES of `values`: linear interpolation between the order statistics around
    q·(n − 1), as torch.quantile's default (tested against it, NaN included)."""
    ordered = ascending(values)
    at = torch.tensor(PERCENTILES, dtype=torch.float64) / 100 * (values.numel() - 1)
    below = at.floor().long()
    above = (below + 1).clamp_(max=values.numel() - 1)
    weight = (at - below).to(values.dtype).to(values.device)
    low, high = ordered[below.to(values.device)], ordered[above.to(values.device)]
    # a NaN sorts last and makes every percentile NaN, as in torch.quantile: a diverged layer is not described
    return torch.where(ordered[-1].isnan(), ordered[-1], torch.lerp(low, high, weight))


def histogram(values: torch.Tensor) -> torch.Tensor:
    """[low, high, HISTOGRAM_BINS masses]: the share of `values` in each of the equal bins between their
    smallest and largest (the largest in the last bin); all equal: that value ± DEGENERATE_HALF_WIDTH."""
    low, high = torch.aminmax(values)
    equal = high <= low
    low = torch.where(equal, low - DEGENERATE_HALF_WIDTH, low)
    high = torch.where(equal, high + DEGENERATE_HALF_WIDTH, high)
    index = ((values - low) * (HISTOGRAM_BINS / (high - low))).long().clamp_(0, HISTOGRAM_BINS - 1)
    masses = torch.bincount(index, minlength=HISTOGRAM_BINS).to(values.dtype) / values.numel()
    return torch.cat([low[None], high[None], masses])


PERCENTILE_STATISTICS = tuple(percentile_statistic(p) for p in PERCENTILES)


class Distributions:
    """What distributions.csv holds so far, and the records that add to it."""

    def __init__(self, layers: Sequence[Weighted], every: int, store: RunStore | None) -> None:
        """`every`: optimizer steps between two percentile records; `store` None: nothing is written
        (the torchrun processes other than rank 0)."""
        self.layers, self.every, self.store = list(layers), every, store
        self.text = ""
        self.recorded_histograms: list[DistributionRow] = []  # its histogram rows so far (the TensorBoard stream's)
        self.positions: dict[int, torch.Tensor | None] = {}

    def due(self, step: int) -> bool:
        return step % self.every == 0

    def resume(self, step: int) -> None:
        """Keep the records up to optimizer step `step`, which the restored weights continue."""
        if self.store is None:
            return
        path = self.store.file("distributions.csv")
        try:
            kept = [row for row in parse_distributions(read_text(path), path) if row.step <= step]
        except RecordError:  # none yet, or unreadable: the records start again from here
            kept = []
        self.text = distributions_csv(kept) if kept else ""
        self.recorded_histograms = histogram_rows(kept)
        self.store.write_distributions(self.text)

    def add(self, rows: list[DistributionRow]) -> None:
        if self.store is not None:
            self.recorded_histograms += histogram_rows(rows)
            self.text += distributions_csv(rows, header=not self.text)
            self.store.write_distributions(self.text)

    def percentiles(self, step: int, epoch: int, probed: Probed) -> list[DistributionRow]:
        """The percentile record of `step` (in `epoch`) from a probe pass."""
        quantities = {"pre_activation": probed.pre, "activation": probed.out}
        return self._rows(step, epoch, quantities, percentiles, PERCENTILE_STATISTICS)

    def histograms(self, step: int, epoch: int, probed: Probed) -> list[DistributionRow]:
        """The histogram record of epoch `epoch` (0: init), after `step` steps, from a probe pass with
        gradients."""
        quantities = {"activation": probed.out, "gradient": probed.out_grads}
        return self._rows(step, epoch, quantities, histogram, HISTOGRAM_STATISTICS)

    def _rows(self, step: int, epoch: int, quantities: dict[str, Sequence[torch.Tensor]], measure,
              statistics: Sequence[str]) -> list[DistributionRow]:
        keys, measured = [], []
        for quantity, tensors in quantities.items():
            for i, tensor in enumerate(tensors):
                keys.append((i, quantity))
                measured.append(measure(self._sampled(i, tensor)))
        numbers = torch.stack(measured).tolist()  # one transfer from the device for the whole record
        rows = []
        for (i, quantity), values in zip(keys, numbers, strict=True):
            if not all(math.isfinite(v) for v in values):  # a diverged run: nothing to describe
                continue
            w = self.layers[i]
            # constructed, not validated: fields of the types they have (validating cost a third of a record)
            rows += [DistributionRow.model_construct(step=step, epoch=epoch, layer=w.name, depth=i + 1,
                                                     quantity=quantity, statistic=statistic, value=value)
                     for statistic, value in zip(statistics, values, strict=True)]
        return rows

    def _sampled(self, layer: int, tensor: torch.Tensor) -> torch.Tensor:
        """The layer's values a record describes (float32): all, or those at its sampled positions."""
        if layer not in self.positions:
            positions = sample_positions(tensor.numel(), layer)
            self.positions[layer] = positions.to(tensor.device) if positions is not None else None
        positions = self.positions[layer]
        values = tensor.reshape(-1) if positions is None else torch.take(tensor, positions)
        return values.float()
