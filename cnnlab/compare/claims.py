"""The evidence for one claim: its groups' figures over the runs, its test, its p-values and its
effect size. The verdicts of an experiment's claims are decided together (cnnlab.compare.decide).

The test, by the claim's form (documented in `cnnlab report --help` and the report's legend):
- `A > B` / `A < B` on a figure: Welch's one-sided t-test over seeds (cnnlab.compare.stats); p for
  the claimed direction, p_opposite for the other one.
- `A > B on learns`: Fisher's exact one-sided test of the shares of seeds that learn (test accuracy
  more than LEARNED_ABOVE chance).
- `A ~= B` (equally accurate): Welch's two one-sided tests against ±EQUIVALENCE_MARGIN (TOST,
  Schuirmann 1987); p is the larger of the two, p_opposite that of the difference being beyond it.
- `A ~ chance`: the same two one-sided tests, one group against chance (1/k for k classes) with
  ±CHANCE_TOLERANCE.
- A figure of the architecture (parameters, MACs, receptive field), the same in every seed of both
  groups, needs no test: it settles the claim. Any other figure is tested, even when its seeds
  happen to agree (two groups that learned on every seed are 3 of 3 against 3 of 3, not a settled
  tie).
Each group takes, per configuration and seed, the latest finished run (completed or diverged); a run
without the metric (no test split, a diverged run, an epoch it never reached) is left out and
counted. A group needs MIN_SEEDS seeds.
"""

from __future__ import annotations

import math
import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

from cnnlab.compare import power
from cnnlab.compare.effects import Effect, mean_difference, one_sample, share_difference
from cnnlab.compare.load import Run
from cnnlab.compare.stats import fisher_exact, t_tail, welch
from cnnlab.rundir.records import FINISHED
from cnnlab.spec.claims import Claim, Group

ALPHA = 0.05  # the level every verdict is tested at (Holm-adjusted over an experiment's claims)
CHANCE_TOLERANCE = 0.05  # "~ chance": within 5 percentage points of chance
EQUIVALENCE_MARGIN = 0.02  # "~=": within 2 percentage points
LEARNED_ABOVE = 0.05  # a seed learns when its test accuracy is more than 5 points above chance
MIN_SEEDS = 2  # fewer seeds show no spread: no verdict

Verdict = Literal["holds", "fails", "inconclusive"]
ORDER = {">": operator.gt, "<": operator.lt}
ARCHITECTURE = ("params", "macs", "receptive_field")  # figures the model alone fixes: the same in every seed
TESTS = {  # the test of each form, as the report names it
    "welch": "Welch's t (one-sided)", "tost": "two one-sided Welch tests", "fisher": "Fisher's exact (one-sided)",
    "chance": "two one-sided t-tests against chance", "fixed": "none: the same in every seed", "none": "none",
}


@dataclass(frozen=True)
class Figures:
    """One group's values of the claim's metric, by seed (a seed's configurations averaged), and how
    many of its seeds learned (test accuracy above chance + LEARNED_ABOVE) of those with a test."""

    label: str
    by_seed: dict[Any, float]
    missing: int = 0  # finished runs of the group without the metric
    learned: int = 0
    tested: int = 0

    @property
    def n(self) -> int:
        return len(self.by_seed)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.by_seed.values()) if self.by_seed else None

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.by_seed.values()) if self.n >= 2 else None

    @property
    def bimodal(self) -> bool:
        """Some seeds learned and some did not: a mean and a spread describe such a group badly."""
        return 0 < self.learned < self.tested


@dataclass(frozen=True)
class Evidence:
    claim: Claim
    left: Figures
    right: Figures | None  # None for "~ chance"
    test: str  # a key of TESTS
    p: float | None = None  # one-sided p of the claim; None where no test decides
    p_opposite: float | None = None  # of the opposite conclusion (the other direction, beyond the margin)
    effect: Effect | None = None
    settled: Verdict | None = None  # decided without a test (the same in every seed)
    reason: str = ""  # why there is no test, or how it settled
    chance: float | None = None
    seeds_holding: tuple[int, int] | None = None  # (seeds where it holds, seeds compared)
    power: Callable[[int, float], float] | None = field(default=None, compare=False)  # at n seeds, level α

    @property
    def tested(self) -> bool:
        return self.p is not None


def _value(run: Run, claim: Claim) -> float | None:
    if claim.learns:
        return None if (learned := _learned(run)) is None else float(learned)
    if claim.curve is not None:
        value = claim.curve.value(run.rows, run.config.get("train.epochs"))
    elif claim.epoch is None:
        value = getattr(run.summary, claim.metric)
    else:
        value = next((getattr(row, claim.metric) for row in run.rows if row.epoch == claim.epoch), None)
    return float(value) if value is not None and math.isfinite(value) else None


def _learned(run: Run) -> bool | None:
    """Whether a run learned: its test accuracy above chance (1/classes) by more than LEARNED_ABOVE."""
    acc, classes = run.summary.test_acc, len(run.summary.classes)
    if acc is None or not classes or not math.isfinite(acc):
        return None
    return acc > 1 / classes + LEARNED_ABOVE


def _latest(runs: Sequence[Run]) -> list[Run]:
    """Per configuration (its sweep values) and seed, the latest finished run."""
    latest: dict[tuple, Run] = {}
    for run in sorted((r for r in runs if r.status in FINISHED), key=lambda r: (r.started, r.run_id)):
        latest[(repr(sorted(run.swept.items())), run.seed)] = run
    return list(latest.values())


def figures(group: Group, runs: Sequence[Run], claim: Claim, sweep: dict[str, list[Any]]) -> Figures:
    values: dict[Any, list[float]] = {}
    tests: dict[Any, list[bool]] = {}
    missing = 0
    for run in _latest([r for r in runs if group.matches(r.swept, sweep)]):
        value = _value(run, claim)
        if value is None:
            missing += 1
        else:
            values.setdefault(run.seed, []).append(value)
        if (learned := _learned(run)) is not None:
            tests.setdefault(run.seed, []).append(learned)
    seeds = sorted(values, key=lambda seed: (seed is None, seed or 0))  # seeds are ints (None: unrecorded)
    by_seed = {seed: statistics.fmean(values[seed]) for seed in seeds}
    if claim.learns:  # a seed learns when most of its configurations did
        by_seed = {seed: float(value > 0.5) for seed, value in by_seed.items()}
    learned = sum(statistics.fmean(ok) > 0.5 for ok in tests.values())
    return Figures(group.label, by_seed, missing, learned, len(tests))


def _chance(runs: Sequence[Run]) -> float | None:
    classes = {len(run.summary.classes) for run in runs if run.summary.classes}
    return 1 / classes.pop() if len(classes) == 1 else None


def evidence(claim: Claim, runs: Sequence[Run], sweep: dict[str, list[Any]]) -> Evidence:
    """The figures, test and effect size of one claim over the runs of its experiment."""
    left = figures(claim.left, runs, claim, sweep)
    if claim.chance:
        chance = _chance([r for r in runs if claim.left.matches(r.swept, sweep)])
        return _against_chance(claim, left, chance)
    right = figures(claim.right, runs, claim, sweep)
    if min(left.n, right.n) < MIN_SEEDS:
        return Evidence(claim, left, right, "none", reason=f"too few seeds (need {MIN_SEEDS} per group)")
    a, b = list(left.by_seed.values()), list(right.by_seed.values())
    if claim.metric in ARCHITECTURE and len(set(a)) == 1 and len(set(b)) == 1:  # the same in every seed
        return _fixed(claim, left, right, a[0], b[0])
    if claim.learns:
        return _shares(claim, left, right)
    if claim.op == "~=":
        return _equivalent(claim, left, right, a, b)
    return _ordered(claim, left, right, a, b)


def _holding(left: Figures, right: Figures, holds: Callable[[float, float], bool]) -> tuple[int, int]:
    shared = [s for s in left.by_seed if s in right.by_seed]
    return sum(holds(left.by_seed[s], right.by_seed[s]) for s in shared), len(shared)


def _fixed(claim: Claim, left: Figures, right: Figures, a: float, b: float) -> Evidence:
    holds = abs(a - b) <= EQUIVALENCE_MARGIN if claim.op == "~=" else ORDER[claim.op](a, b)
    return Evidence(claim, left, right, "fixed", effect=Effect(a - b, a - b, a - b), settled="holds" if holds else
                    "fails", reason=f"the same in every seed: {a:.4g} vs {b:.4g}")


def _ordered(claim: Claim, left: Figures, right: Figures, a: list[float], b: list[float]) -> Evidence:
    test = welch(a, b)
    greater = claim.op == ">"
    p, p_opposite = (test.p_greater, test.p_less) if greater else (test.p_less, test.p_greater)
    diff, sd_a, sd_b = abs(statistics.fmean(a) - statistics.fmean(b)), statistics.stdev(a), statistics.stdev(b)
    return Evidence(claim, left, right, "welch", p, p_opposite, mean_difference(a, b),
                    seeds_holding=_holding(left, right, ORDER[claim.op]),
                    power=partial(power.welch_power, diff, sd_a, sd_b))


def _equivalent(claim: Claim, left: Figures, right: Figures, a: list[float], b: list[float]) -> Evidence:
    margin = EQUIVALENCE_MARGIN
    p = max(welch(a, b, shift=-margin).p_greater, welch(a, b, shift=margin).p_less)  # TOST: both must reject
    beyond = min(welch(a, b, shift=margin).p_greater, welch(a, b, shift=-margin).p_less)
    diff, sd_a, sd_b = statistics.fmean(a) - statistics.fmean(b), statistics.stdev(a), statistics.stdev(b)
    return Evidence(claim, left, right, "tost", p, beyond, mean_difference(a, b),
                    seeds_holding=_holding(left, right, lambda x, y: abs(x - y) <= margin),
                    power=_equivalence_power(diff, sd_a, sd_b, margin))


def _shares(claim: Claim, left: Figures, right: Figures) -> Evidence:
    ka, na, kb, nb = round(sum(left.by_seed.values())), left.n, round(sum(right.by_seed.values())), right.n
    greater = fisher_exact(ka, na - ka, kb, nb - kb)
    less = fisher_exact(kb, nb - kb, ka, na - ka)
    p, p_opposite = (greater, less) if claim.op == ">" else (less, greater)
    share_a, share_b = (ka / na, kb / nb) if claim.op == ">" else (kb / nb, ka / na)
    high, low = max(share_a, share_b), min(share_a, share_b)
    return Evidence(claim, left, right, "fisher", p, p_opposite, share_difference(ka, na, kb, nb),
                    power=partial(power.fisher_power, high, low))


def _against_chance(claim: Claim, left: Figures, chance: float | None) -> Evidence:
    if chance is None:
        return Evidence(claim, left, None, "none", reason="the runs do not record their classes")
    near = sum(abs(v - chance) <= CHANCE_TOLERANCE for v in left.by_seed.values())
    common = {"chance": chance, "seeds_holding": (near, left.n)}
    if left.n < MIN_SEEDS:
        return Evidence(claim, left, None, "none", reason=f"too few seeds (need {MIN_SEEDS})", **common)
    values = list(left.by_seed.values())
    diff, sd, n = statistics.fmean(values) - chance, statistics.stdev(values), left.n
    margin = CHANCE_TOLERANCE
    if sd == 0.0:
        p, beyond = (0.0, 1.0) if abs(diff) < margin else (1.0, 0.0)
    else:
        se = sd / math.sqrt(n)
        p = max(t_tail((diff + margin) / se, n - 1), t_tail((margin - diff) / se, n - 1))
        beyond = min(t_tail((diff - margin) / se, n - 1), t_tail((-margin - diff) / se, n - 1))
    return Evidence(claim, left, None, "chance", p, beyond, one_sample(values, chance),
                    power=_equivalence_power(diff, sd, 0.0, margin), **common)


def _equivalence_power(diff: float, sd_a: float, sd_b: float, margin: float) -> Callable[[int, float], float]:
    """The power at n seeds of the test that can settle an equivalence: its two one-sided tests while
    the difference seen is within the margin, else the test of it being beyond the margin."""
    if abs(diff) < margin:
        return partial(power.tost_power, diff, sd_a, sd_b, margin)
    return partial(power.welch_power, abs(diff) - margin, sd_a, sd_b)
