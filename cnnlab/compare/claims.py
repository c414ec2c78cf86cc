"""Checking an experiment's claims against its runs: the numbers of each group, and a verdict.

Verdicts (documented in `cnnlab report --help`):
- `A > B` / `A < B`: each group needs finished runs of at least two seeds. Welch's one-sided t-test
  (cnnlab.compare.stats) gives p for the claimed direction; the claim **holds** when p < ALPHA,
  **fails** when the opposite direction has p < ALPHA, and is **inconclusive** otherwise.
- `A ~= B` (equally accurate): Welch's two one-sided tests against a margin of EQUIVALENCE_MARGIN
  (TOST, Schuirmann 1987); the claim **holds** when both reject at ALPHA (the difference is within
  the margin), **fails** when the difference is beyond the margin with p < ALPHA, and is
  **inconclusive** otherwise — few seeds with a wide spread prove no equivalence.
- `A ~ chance`: chance is 1/k for k classes (0.5 for a binary head). The claim **holds** when every
  seed is within CHANCE_TOLERANCE of chance (two seeds at least), **fails** when the mean is further
  than that, and is **inconclusive** otherwise.
Each group takes, per configuration and seed, the latest finished run (completed or diverged); a run
without the metric (no test split, a diverged run, an epoch it never reached) is left out and counted.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from cnnlab.compare.load import Run
from cnnlab.compare.stats import welch
from cnnlab.rundir.records import FINISHED, SweepRecord
from cnnlab.spec.claims import Claim, Group, parse_claim

ALPHA = 0.05  # one-sided significance level of Welch's test
CHANCE_TOLERANCE = 0.05  # accuracy within 5 percentage points of chance counts as chance
EQUIVALENCE_MARGIN = 0.02  # "equally accurate": within 2 percentage points
MIN_SEEDS = 2  # fewer seeds show no spread: no verdict

Verdict = Literal["holds", "fails", "inconclusive"]


@dataclass(frozen=True)
class Figures:
    """One group's values of the claim's metric, by seed (a seed's configurations averaged)."""

    label: str
    by_seed: dict[Any, float]
    missing: int = 0  # finished runs of the group without the metric

    @property
    def n(self) -> int:
        return len(self.by_seed)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.by_seed.values()) if self.by_seed else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.by_seed.values()) if self.n >= 2 else None


@dataclass(frozen=True)
class ClaimResult:
    claim: Claim
    verdict: Verdict
    left: Figures
    right: Figures | None  # None for "~ chance"
    reason: str  # why this verdict, in a few words
    p_value: float | None = None  # Welch, one-sided, in the claimed direction
    chance: float | None = None
    seeds_holding: tuple[int, int] | None = None  # (seeds where it holds, seeds compared)


def _value(run: Run, claim: Claim) -> float | None:
    if claim.epoch is None:
        value = getattr(run.summary, claim.metric)
    else:
        value = next((getattr(row, claim.metric) for row in run.rows if row.epoch == claim.epoch), None)
    return float(value) if value is not None and math.isfinite(value) else None


def _latest(runs: Sequence[Run]) -> list[Run]:
    """Per configuration (its sweep values) and seed, the latest finished run."""
    latest: dict[tuple, Run] = {}
    for run in sorted((r for r in runs if r.status in FINISHED), key=lambda r: (r.started, r.run_id)):
        latest[(repr(sorted(run.swept.items())), run.seed)] = run
    return list(latest.values())


def figures(group: Group, runs: Sequence[Run], claim: Claim, sweep: dict[str, list[Any]]) -> Figures:
    values: dict[Any, list[float]] = {}
    missing = 0
    for run in _latest([r for r in runs if group.matches(r.swept, sweep)]):
        value = _value(run, claim)
        if value is None:
            missing += 1
        else:
            values.setdefault(run.seed, []).append(value)
    seeds = sorted(values, key=lambda seed: (seed is None, seed or 0))  # seeds are ints (None: unrecorded)
    by_seed = {seed: statistics.fmean(values[seed]) for seed in seeds}
    return Figures(group.label, by_seed, missing)


def _chance(runs: Sequence[Run]) -> float | None:
    classes = {len(run.summary.classes) for run in runs if run.summary.classes}
    return 1 / classes.pop() if len(classes) == 1 else None


def check(claim: Claim, runs: Sequence[Run], sweep: dict[str, list[Any]]) -> ClaimResult:
    """The verdict of one claim over the runs of its experiment."""
    left = figures(claim.left, runs, claim, sweep)
    if claim.chance:
        return _check_chance(claim, left, _chance([r for r in runs if claim.left.matches(r.swept, sweep)]))
    right = figures(claim.right, runs, claim, sweep)
    if min(left.n, right.n) < MIN_SEEDS:
        return ClaimResult(claim, "inconclusive", left, right, f"too few seeds (need {MIN_SEEDS} per group)")
    a, b = list(left.by_seed.values()), list(right.by_seed.values())
    shared = [s for s in left.by_seed if s in right.by_seed]
    if claim.op == "~=":
        return _check_equivalent(claim, left, right, a, b, shared)
    test = welch(a, b)
    p, p_opposite = (test.p_greater, test.p_less) if claim.op == ">" else (test.p_less, test.p_greater)
    holding = sum((left.by_seed[s] > right.by_seed[s]) == (claim.op == ">") and left.by_seed[s] != right.by_seed[s]
                  for s in shared)
    if len(set(a)) == 1 and len(set(b)) == 1:  # the same in every seed (params, MACs, receptive field): no test
        verdict = "holds" if (a[0] > b[0] if claim.op == ">" else a[0] < b[0]) else "fails"
        reason = f"the same in every seed: {a[0]:.4g} vs {b[0]:.4g}"
    elif p < ALPHA:
        verdict, reason = "holds", f"p = {p:.3g} < {ALPHA}"
    elif p_opposite < ALPHA:
        verdict, reason = "fails", f"the opposite holds (p = {p_opposite:.3g})"
    else:
        verdict, reason = "inconclusive", f"p = {p:.3g} ≥ {ALPHA}"
    return ClaimResult(claim, verdict, left, right, reason, p, seeds_holding=(holding, len(shared)))


def _check_equivalent(claim: Claim, left: Figures, right: Figures, a: list[float], b: list[float],
                      shared: list) -> ClaimResult:
    margin = EQUIVALENCE_MARGIN
    p = max(welch(a, b, shift=-margin).p_greater, welch(a, b, shift=margin).p_less)  # TOST: both must reject
    beyond = min(welch(a, b, shift=margin).p_greater, welch(a, b, shift=-margin).p_less)
    holding = sum(abs(left.by_seed[s] - right.by_seed[s]) <= margin for s in shared)
    common = {"p_value": p, "seeds_holding": (holding, len(shared))}
    if p < ALPHA:
        return ClaimResult(claim, "holds", left, right, f"within ±{margin:.0%}: p = {p:.3g} < {ALPHA}", **common)
    if beyond < ALPHA:
        return ClaimResult(claim, "fails", left, right, f"they differ by more than {margin:.0%} (p = {beyond:.3g})",
                           **common)
    return ClaimResult(claim, "inconclusive", left, right, f"equivalence within ±{margin:.0%} unproven "
                       f"(p = {p:.3g} ≥ {ALPHA})", **common)


def _check_chance(claim: Claim, left: Figures, chance: float | None) -> ClaimResult:
    if chance is None:
        return ClaimResult(claim, "inconclusive", left, None, "the runs do not record their classes")
    near = sum(abs(v - chance) <= CHANCE_TOLERANCE for v in left.by_seed.values())
    common = {"chance": chance, "seeds_holding": (near, left.n)}
    if left.n < MIN_SEEDS:
        return ClaimResult(claim, "inconclusive", left, None, f"too few seeds (need {MIN_SEEDS})", **common)
    if near == left.n:
        return ClaimResult(claim, "holds", left, None, f"every seed within {CHANCE_TOLERANCE:.0%} of chance",
                           **common)
    if abs(left.mean - chance) > CHANCE_TOLERANCE:
        return ClaimResult(claim, "fails", left, None, f"the mean is more than {CHANCE_TOLERANCE:.0%} from chance",
                           **common)
    return ClaimResult(claim, "inconclusive", left, None, "some seeds are near chance, some are not", **common)


def check_experiment(record: SweepRecord, runs: Sequence[Run]) -> list[ClaimResult]:
    """Every claim of an experiment (its sweep record), checked over its runs."""
    return [check(parse_claim(text, record.sweep), runs, record.sweep) for text in record.claims]
