"""An experiment and its runs as records: what a spec file became, and what one run of it is.

`Experiment` is a validated spec with the mapping it was read from (its sweep values are applied to
that mapping, as `--set` would, so that sweeping `model.preset` brings each preset's own values) and
the labels of the `--set` overrides that configure its runs. `RunSpec` is one run: its own validated
spec and what made it from the experiment (its swept values, how they read, the `--set` labels).
Both are made here and in cnnlab.spec.sweep, never changed afterwards, and travel whole to the
process that trains the run.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from cnnlab.spec.identity import RESULT_NEUTRAL
from cnnlab.spec.labels import labels
from cnnlab.spec.overrides import apply_override, parse_override
from cnnlab.spec.resolve import resolve
from cnnlab.spec.schema import EXPERIMENT_KEYS, Spec

# --set keys that choose which runs there are, where they go, or where and how they compute: not in
# run ids (a resume may change the last kind, and the run stays the same run).
NOT_CONFIGURING = frozenset({"name", "seed", *EXPERIMENT_KEYS})


@dataclass(frozen=True)
class Experiment:
    """A spec file (or mapping) with its `--set` overrides applied, validated."""

    spec: Spec
    raw: dict[str, Any]  # the mapping as written, overrides applied: what the sweep values go into
    set_labels: dict[str, str] = field(default_factory=dict)  # --set key → "key=value", for run ids

    @classmethod
    def of(cls, raw: dict[str, Any], overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
        """Validate `raw` with `overrides` (`key.path=value`) applied; `raw` itself is not changed."""
        configuring = {}
        for item in overrides:
            key, value = parse_override(item)
            raw = apply_override(raw, key, value)
            if key.partition(".")[0].partition("[")[0] not in NOT_CONFIGURING and key not in RESULT_NEUTRAL:
                configuring[key] = value
        spec = resolve(raw)
        return cls(spec, copy.deepcopy(raw), labels({k: v for k, v in configuring.items() if k not in spec.sweep}))


@dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: its resolved spec and what made it from the experiment."""

    spec: Spec
    swept: dict[str, Any] = field(default_factory=dict)  # dotted key → the sweep value that made this run
    labels: dict[str, str] = field(default_factory=dict)  # swept key → how it reads (`activation=relu`): headers, id
    set_labels: dict[str, str] = field(default_factory=dict)  # --set key → how it reads: part of the run id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def seed(self) -> int:
        return self.spec.seed

    def resolved(self) -> dict[str, Any]:
        """What spec.yaml holds: the run's identity (cnnlab.spec.identity)."""
        return self.spec.resolved()

    def label(self) -> str:
        """`activation=relu seed=0`: the swept values of the run, as its id names them, and its seed."""
        return " ".join([*self.labels.values(), f"seed={self.seed}"])
