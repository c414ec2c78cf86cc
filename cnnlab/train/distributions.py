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
from dataclasses import dataclass

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
POINTS = 20  # percentile records per run of up to 20 epochs when train.diagnostics.steps is null (and at init)
SAMPLE_SEED = 0  # the positions sampled are the same in every run of a layer of that size
DEGENERATE_HALF_WIDTH = 0.5  # the range of a histogram whose values are all equal: that value ± this


@dataclass(frozen=True)
class Schedule:
    """The optimizer steps (counted over the run, from 1) after which the percentiles are recorded:
    every `steps`, or, by default, about POINTS in a run: the same number in each epoch (at least one),
    evenly spaced, the last at the epoch's end, where the epoch's own record measures them too."""

    steps: int | None
    steps_per_epoch: int
    epochs: int

    def due(self, step: int) -> bool:
        if self.steps:
            return step % self.steps == 0
        per_epoch = min(self.steps_per_epoch, max(1, round(POINTS / self.epochs)))
        j = (step - 1) % self.steps_per_epoch + 1  # the step within its epoch
        return j * per_epoch // self.steps_per_epoch > (j - 1) * per_epoch // self.steps_per_epoch

    def ends_epoch(self, step: int) -> bool:
        return step % self.steps_per_epoch == 0


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
    """Each row of `values` (its last dimension) sorted. On the CPU through numpy: torch's CPU sort of
    8,192 floats takes about 0.5 ms, numpy's 0.02 (measured)."""
    if values.device.type == "cpu":
        return torch.from_numpy(np.sort(values.numpy(), axis=-1))
    return values.sort(dim=-1).values


def percentiles(values: torch.Tensor) -> torch.Tensor:
    """The PERCENTILES of each row of `values` (its last dimension; a vector is one row): linear
    interpolation between the order statistics around q·(n − 1), as torch.quantile's default (tested
    against it, NaN included)."""
    ordered, n = ascending(values), values.shape[-1]
    at = torch.tensor(PERCENTILES, dtype=torch.float64) / 100 * (n - 1)
    below = at.floor().long()
    above = (below + 1).clamp_(max=n - 1)
    weight = (at - below).to(values.dtype).to(values.device)
    low, high = ordered[..., below.to(values.device)], ordered[..., above.to(values.device)]
    # a NaN sorts last and makes every percentile NaN, as in torch.quantile: a diverged layer is not described
    largest = ordered[..., -1:]
    return torch.where(largest.isnan(), largest, torch.lerp(low, high, weight))


def histogram(values: torch.Tensor) -> torch.Tensor:
    """Per row of `values` (its last dimension; a vector is one row): [low, high, HISTOGRAM_BINS masses],
    the share of the row's values in each of the equal bins between its smallest and largest (the
    largest in the last bin); all equal: that value ± DEGENERATE_HALF_WIDTH."""
    rows = values.reshape(-1, values.shape[-1])
    low, high = torch.aminmax(rows, dim=-1, keepdim=True)
    equal = high <= low
    low = torch.where(equal, low - DEGENERATE_HALF_WIDTH, low)
    high = torch.where(equal, high + DEGENERATE_HALF_WIDTH, high)
    index = ((rows - low) * (HISTOGRAM_BINS / (high - low))).long().clamp_(0, HISTOGRAM_BINS - 1)
    index += torch.arange(len(rows), device=rows.device)[:, None] * HISTOGRAM_BINS  # one count for every row
    counts = torch.bincount(index.reshape(-1), minlength=len(rows) * HISTOGRAM_BINS).view(len(rows), -1)
    masses = counts.to(values.dtype) / rows.shape[-1]
    return torch.cat([low, high, masses], dim=-1).reshape(*values.shape[:-1], HISTOGRAM_BINS + 2)


PERCENTILE_STATISTICS = tuple(percentile_statistic(p) for p in PERCENTILES)


class Distributions:
    """What distributions.csv holds so far, and the records that add to it."""

    def __init__(self, layers: Sequence[Weighted], store: RunStore | None) -> None:
        """`store` None: nothing is written (the torchrun processes other than rank 0)."""
        self.layers, self.store = list(layers), store
        self.text = ""
        self.recorded_histograms: list[DistributionRow] = []  # its histogram rows so far (the TensorBoard stream's)
        self.positions: dict[int, torch.Tensor | None] = {}  # a layer's sampled positions (None: all)
        self.offsets: dict[tuple, torch.Tensor] = {}  # ... where they lie in a tensor of a shape and strides
        self.unwritten = False  # records added since distributions.csv was last written

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
        """Add a record's rows; the file is rewritten by `write` (at epochs, not at every step's record:
        rewriting it each time cost a fifth of the percentiles' time)."""
        if self.store is not None:
            self.recorded_histograms += histogram_rows(rows)
            self.text += distributions_csv(rows, header=not self.text)
            self.unwritten = True

    def write(self) -> None:
        """distributions.csv with every record so far."""
        if self.store is not None and self.unwritten:
            self.store.write_distributions(self.text)
            self.unwritten = False

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
        keys, sampled = [], []
        for quantity, tensors in quantities.items():
            for i, tensor in enumerate(tensors):
                keys.append((i, quantity))
                sampled.append(self._sampled(i, tensor))
        measured: list[torch.Tensor] = [torch.empty(0)] * len(sampled)
        for n in {values.numel() for values in sampled}:  # a record's layers have few sizes: one measure each
            same = [k for k, values in enumerate(sampled) if values.numel() == n]
            for k, row in zip(same, measure(torch.stack([sampled[k] for k in same])), strict=True):
                measured[k] = row
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
        """The layer's values a record describes (float32): all, or those at its sampled positions, read
        in the order they lie in memory (a set: its percentiles and histogram do not depend on the order,
        and reading a channels-last map in its own order is 3 times faster)."""
        if layer not in self.positions:
            self.positions[layer] = sample_positions(tensor.numel(), layer)
        positions = self.positions[layer]
        if positions is None:
            return tensor.reshape(-1).float()
        if not dense(tensor):
            return torch.take(tensor, positions.to(tensor.device)).float()
        key = (layer, tensor.shape, tensor.stride(), tensor.device)
        if key not in self.offsets:
            self.offsets[key] = storage_offsets(positions, tensor.shape, tensor.stride()).to(tensor.device)
        # index_select, not [offsets]: the same values, 6 times faster on 8,192 of them (measured)
        return tensor.as_strided((tensor.numel(),), (1,)).index_select(0, self.offsets[key]).float()


def dense(tensor: torch.Tensor) -> bool:
    """Whether `tensor`'s values fill a block of memory of its size (contiguous in some dimension order)."""
    return tensor.is_contiguous() or (tensor.dim() == 4 and tensor.is_contiguous(memory_format=torch.channels_last))


def storage_offsets(positions: torch.Tensor, shape: Sequence[int], strides: Sequence[int]) -> torch.Tensor:
    """Where the values at `positions` (of the flattened, row-major tensor) lie in a dense tensor of these
    strides, in ascending order."""
    offsets, rest = torch.zeros_like(positions), positions
    for size, stride in zip(reversed(shape), reversed(strides), strict=True):
        offsets += rest % size * stride
        rest = rest // size
    return offsets.sort().values
