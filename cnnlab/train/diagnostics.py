"""Per-layer diagnostics on a fixed probe batch: why a run learns or not.

At initialization and after every `train.diagnostics.every` epochs (and the last), one forward and
one backward pass over the same probe images (drawn from the training split by the run's seed, never
augmented; cnnlab.train.probe) measure, for every weighted layer and the activation after it, the
statistics listed in cnnlab.rundir.records.DIAGNOSTIC_STATISTICS; they go to diagnostics.csv, for
`cnnlab inspect`. The same pass gives the histograms of distributions.csv, and on the steps of
cnnlab.train.distributions.Schedule a forward pass over the probe gives its percentiles (at an epoch's
end, the epoch's pass gives them).

The probe leaves training as it was, so a run gives the same numbers with diagnostics on or off.

Under torchrun every process takes the probe (synchronised batch norm makes its forward pass a
collective; each process holds the same probe images, so the statistics are one process's) and rank 0,
the one with a run store, writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from cnnlab.data.pipeline import Batches
from cnnlab.models.activations import ACTIVATIONS
from cnnlab.models.builder import weighted_layers
from cnnlab.rundir.csv_files import diagnostics_csv, parse_diagnostics
from cnnlab.rundir.records import DiagnosticsRow, DistributionRow, RecordError, read_text
from cnnlab.rundir.store import RunStore
from cnnlab.shape.layers import Activation, Plan
from cnnlab.spec import DiagnosticsSpec
from cnnlab.train.distributions import Distributions, Schedule
from cnnlab.train.probe import Probed, probe

RECTIFIERS = frozenset({"relu", "leaky_relu", "elu", "gelu", "silu"})
"""Activations whose unit is dead when it is never above 0: it then passes (almost) no gradient."""

SATURATION_SLOPE = 0.1
"""An output counts as saturated where the activation's slope there is below this share of its
largest slope: |y| ≥ 0.949 for tanh (and 0.949·1.7159 for scaled_tanh), y ≤ 0.026 or y ≥ 0.974
for sigmoid."""

SATURATED: dict[str, Callable[[dict], Callable[[torch.Tensor], torch.Tensor]]] = {
    "sigmoid": lambda o: lambda y: y * (1 - y) <= SATURATION_SLOPE / 4,  # σ' = y(1 − y), at most 1/4
    "tanh": lambda o: lambda y: y.abs() >= math.sqrt(1 - SATURATION_SLOPE),  # tanh' = 1 − y²
    "scaled_tanh": lambda o: lambda y: y.abs() >= o["amplitude"] * math.sqrt(1 - SATURATION_SLOPE),
}
"""Saturating activation → (its options → the mask of saturated outputs, computed from the outputs)."""

DISTINCT_TOLERANCE = 1e-4  # two units are the same when their outputs differ by less than this, relatively
DISTINCT_POSITIONS = 256  # outputs per unit compared (a fixed random sample of images × positions)


@dataclass(frozen=True)
class Recorded:
    """What one epoch's record added: its rows of diagnostics.csv and its histograms in distributions.csv."""

    diagnostics: list[DiagnosticsRow] = field(default_factory=list)
    histograms: list[DistributionRow] = field(default_factory=list)


class Diagnostics:
    """The probe batch and what it measured so far; `record(epoch)` adds an epoch to diagnostics.csv
    (and its histograms to distributions.csv), `after_step(step)` the percentiles of a step."""

    def __init__(self, model: nn.Module, plan: Plan, batches: Batches, head, spec: DiagnosticsSpec, seed: int,
                 store: RunStore | None, epochs: int) -> None:
        """`store` is None on the torchrun processes that write nothing; `epochs`: the run's (the
        default spacing of the percentile records)."""
        self.model, self.head, self.every, self.store = model, head, spec.every, store
        self.rows: list[DiagnosticsRow] = []  # diagnostics.csv so far
        self.text = ""  # ... as text: each record renders only its own rows
        self.recorded: set[int] = set()
        self.resumed = False
        self.layers = list(weighted_layers(plan))
        self.schedule = Schedule(spec.steps, batches.steps_per_epoch, epochs)
        self.distributions = Distributions(self.layers, store)
        self.pending: tuple[int, int] | None = None  # (step, epoch) of a percentile record left to the epoch's
        if not self.every:
            return
        order = torch.randperm(len(batches.split), generator=torch.Generator().manual_seed(seed))
        self.x, self.y = batches.select(order[:spec.probe].sort().values)
        self.previous: list[torch.Tensor] | None = self._weights()

    def _weight(self, name: str) -> torch.Tensor:
        return getattr(self.model, name).weight

    def _weights(self) -> list[torch.Tensor]:
        return [self._weight(w.name).detach().clone() for w in self.layers]

    def _probe(self, gradients: bool) -> Probed:
        return probe(self.model, self.layers, self.x, self.y, self.head.loss, gradients)

    def resume(self, epoch: int, mid_epoch: bool, step: int) -> None:
        """Go on with a run restored after `epoch` epochs (and part of the next one when `mid_epoch`),
        `step` optimizer steps in all: keep the records up to there, which the weights restored continue.
        The next record's update ratio needs the weights of the record before it: only a resume right
        after a recorded epoch has them, otherwise that record goes without one."""
        self.resumed = True
        if not self.every or self.store is None:
            return
        self.distributions.resume(step)
        path = self.store.file("diagnostics.csv")
        try:
            kept = [row for row in parse_diagnostics(read_text(path), path) if row.epoch <= epoch]
        except RecordError:  # none yet, or unreadable: the records start again from here
            kept = []
        self.recorded = {row.epoch for row in kept}
        self.previous = self._weights() if epoch in self.recorded and not mid_epoch else None
        self.rows = kept
        self.text = diagnostics_csv(kept) if kept else ""
        self.store.write_diagnostics(self.text)

    def after_step(self, step: int, epoch: int) -> None:
        """After optimizer step `step` (counted over the run), in `epoch`: its percentiles, if it is due;
        at the epoch's end, from the epoch's record (its pass gives them: one pass fewer)."""
        if not self.every or not self.schedule.due(step):
            return
        if self.schedule.ends_epoch(step):
            self.pending = (step, epoch)
        else:
            self._percentiles(step, epoch, self._probe(gradients=False))

    def _percentiles(self, step: int, epoch: int, probed: Probed) -> None:
        if self.store is not None:
            self.distributions.add(self.distributions.percentiles(step, epoch, probed))

    def _pending(self, probed: Probed | None = None) -> None:
        """The percentile record left to the epoch's record, from `probed` (None: a pass of its own)."""
        if self.pending is not None:
            (step, epoch), self.pending = self.pending, None
            self._percentiles(step, epoch, probed if probed is not None else self._probe(gradients=False))

    def write(self) -> None:
        """Write the step records not yet in distributions.csv (before a checkpoint mid-epoch, at the end:
        an epoch's record that did not come, after a diverged epoch, leaves its step's to this)."""
        self._pending()
        self.distributions.write()

    def record(self, epoch: int, step: int, last: bool = False) -> Recorded:
        """Measure now, labelled `epoch` (0: at init, not after a resume), after `step` optimizer steps,
        if it is a recording epoch: every N-th, or `last`; the rows recorded (none on the processes that
        write nothing)."""
        if not self.every:
            return Recorded()
        if epoch in self.recorded or (epoch % self.every and not last) or (epoch == 0 and self.resumed):
            self._pending()
            return Recorded()
        probed = self._probe(gradients=True)
        self._pending(probed)
        if self.store is None:
            return Recorded()
        names, values = [], []
        for i, (weighted, grad) in enumerate(zip(self.layers, probed.weight_grads, strict=True)):
            for statistic, value in self._statistics(i, weighted.activation, probed.out[i], grad, epoch):
                names.append((i, statistic))
                values.append(value)
        numbers = torch.stack(values).tolist()  # one transfer from the device for everything
        rows = []
        for (i, statistic), value in zip(names, numbers, strict=True):
            if statistic == "update_ratio" and not math.isfinite(value):
                continue  # no change to measure against a weight of norm 0 (zero init)
            w = self.layers[i]
            rows.append(DiagnosticsRow(epoch=epoch, layer=w.name, depth=i + 1, activation=w.activation.kind,
                                       statistic=statistic, value=value))
        if epoch == 0:
            self._percentiles(step, epoch, probed)
        histograms = self.distributions.histograms(step, epoch, probed)
        self.distributions.add(histograms)
        self.distributions.write()  # first: an epoch in diagnostics.csv is in its records too
        self.previous = self._weights()
        self.recorded.add(epoch)
        self.rows += rows
        self.text += diagnostics_csv(rows, header=not self.text)
        self.store.write_diagnostics(self.text)
        return Recorded(rows, histograms)

    def _statistics(self, i: int, activation: Activation, out: torch.Tensor, grad: torch.Tensor,
                    epoch: int) -> list[tuple[str, torch.Tensor]]:
        out = out.float()
        weight = self._weight(self.layers[i].name).detach()
        # (images × positions) × units: a view of channels-last maps and of vectors, so that every
        # reduction below is one fast pass over contiguous memory
        rows = out.movedim(1, -1).reshape(-1, out.shape[1])
        mean = rows.mean()
        # torch's std sums as exactly as float64 would (the norm of rows − mean was off by 4e-4 of it on a
        # layer of 1.6M values, measured), at the same speed; one value: a spread of 0, not NaN
        std = rows.std() if rows.numel() > 1 else torch.zeros_like(mean)
        found = [("act_mean", mean), ("act_std", std),
                 ("units", torch.tensor(float(out.shape[1]), device=out.device)),
                 ("distinct_units", distinct_units(sampled_outputs(out)))]
        if activation.kind in RECTIFIERS:  # never above 0: the sum of a unit's positive parts is 0
            found.append(("dead_fraction", (rows.clamp(min=0).sum(dim=0) == 0).float().mean()))
        if activation.kind in SATURATED:
            options = ACTIVATIONS.validate_options(activation.kind, dict(activation.options))
            found.append(("saturated_fraction", SATURATED[activation.kind](options)(rows).float().mean()))
        grad_norm = grad.norm()
        found += [("weight_norm", weight.norm()), ("grad_norm", grad_norm),
                  ("grad_rms", grad_norm / math.sqrt(grad.numel()))]
        if epoch > 0 and self.previous is not None:
            previous = self.previous[i]
            found.append(("update_ratio", (weight - previous).norm() / previous.norm()))
        return found


def sampled_outputs(out: torch.Tensor) -> torch.Tensor:
    """Units × DISTINCT_POSITIONS of a layer's outputs (N×C×H×W or N×F): every unit at the same
    (image, position) pairs, a fixed random sample of them."""
    flat = out.flatten(2) if out.dim() > 2 else out.unsqueeze(2)  # N × C × positions
    n, _, positions = flat.shape
    pick = torch.randint(n * positions, (DISTINCT_POSITIONS,), generator=torch.Generator().manual_seed(0))
    pick = pick.to(out.device)
    return flat[pick // positions, :, pick % positions].T


def distinct_units(units: torch.Tensor) -> torch.Tensor:
    """How many rows of `units` (one per unit: its outputs) differ from every earlier row by more than
    DISTINCT_TOLERANCE relative to the larger of the two (all-zero rows are all the same)."""
    device = units.device
    # float64, so that the distance of two equal rows comes out as 0, not as rounding noise (MPS has none)
    units = (units.cpu() if device.type == "mps" else units).double()
    norms = units.norm(dim=1)
    same = torch.cdist(units, units) <= DISTINCT_TOLERANCE * torch.maximum(norms[:, None], norms[None, :])
    repeats = torch.tril(same, diagonal=-1).any(dim=1)  # equal to some earlier unit
    return (units.shape[0] - repeats.sum()).float().to(device)
