"""The verdicts of an experiment's claims, decided together: each claim's evidence
(cnnlab.compare.claims), Holm's adjustment over the experiment's claims, and, for claims no verdict
settles, how many seeds per group would (cnnlab.compare.power). Under `--until-decided` the claims are
decided look by look, at the levels of cnnlab.compare.multiplicity.

A tested claim **holds** when its p, Holm-adjusted over the experiment's tested claims, is below the
look's level (ALPHA when the claims are looked at once); it **fails** when the p of the opposite
conclusion, adjusted the same way, is; else it is **inconclusive**. A claim settled without a test
(the same figure in every seed) takes no part in the adjustment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cnnlab.compare import power
from cnnlab.compare.claims import ALPHA, Evidence, Verdict, evidence
from cnnlab.compare.load import Run
from cnnlab.compare.multiplicity import FIXED, holm
from cnnlab.rundir.records import SweepRecord
from cnnlab.spec.claims import Claim, parse_claim
from cnnlab.util.text import plural


@dataclass(frozen=True)
class ClaimResult:
    evidence: Evidence
    verdict: Verdict
    reason: str  # why this verdict, in a few words
    p_value: float | None = None  # raw, of the conclusion reported (the claimed one, or the opposite for fails)
    p_holm: float | None = None  # the same, Holm-adjusted
    level: float = ALPHA  # the level it was tested at
    seeds_needed: int | None = None  # per group, for an inconclusive claim; None: decided, or beyond the cap
    look: int | None = None  # under --until-decided: the look (from 1) that decided it, or the last

    @property
    def claim(self) -> Claim:
        return self.evidence.claim

    @property
    def left(self):
        return self.evidence.left

    @property
    def right(self):
        return self.evidence.right

    @property
    def seeds_holding(self) -> tuple[int, int] | None:
        return self.evidence.seeds_holding

    @property
    def chance(self) -> float | None:
        return self.evidence.chance

    @property
    def settles_with_seeds(self) -> bool:
        """An inconclusive claim that more seeds could settle (False: decided, or no test applies)."""
        return self.verdict == "inconclusive" and self.evidence.tested


def decide(evidences: Sequence[Evidence], level: float = ALPHA) -> list[ClaimResult]:
    """The verdict of each claim, its p-values Holm-adjusted over the tested ones, at `level`."""
    tested = [i for i, e in enumerate(evidences) if e.tested]
    adjusted = dict(zip(tested, holm([evidences[i].p for i in tested]), strict=True))
    opposite = dict(zip(tested, holm([evidences[i].p_opposite for i in tested]), strict=True))
    results = []
    for i, e in enumerate(evidences):
        if not e.tested:
            results.append(ClaimResult(e, e.settled or "inconclusive", e.reason, level=level))
        elif adjusted[i] < level:
            results.append(ClaimResult(e, "holds", f"p = {e.p:.3g}, Holm {adjusted[i]:.3g} < {level:.3g}", e.p,
                                       adjusted[i], level))
        elif opposite[i] < level:
            reason = f"the opposite holds: p = {e.p_opposite:.3g}, Holm {opposite[i]:.3g} < {level:.3g}"
            results.append(ClaimResult(e, "fails", reason, e.p_opposite, opposite[i], level))
        else:
            results.append(ClaimResult(e, "inconclusive", f"p = {e.p:.3g}, Holm {adjusted[i]:.3g} ≥ {level:.3g}",
                                       e.p, adjusted[i], level))
    undecided = sum(r.settles_with_seeds for r in results)
    return [replace(r, seeds_needed=_seeds_needed(r, ALPHA / undecided)) if r.settles_with_seeds else r
            for r in results]


def _seeds_needed(result: ClaimResult, level: float) -> int | None:
    """Seeds per group that would decide the claim with 80% power in an experiment that tests once, at
    `level` (α over the undecided claims: the Holm step the first of them faces), if the difference
    and spread seen are real."""
    return power.seeds_needed(lambda n: result.evidence.power(n, level))


def check(claim: Claim, runs: Sequence[Run], sweep: dict[str, list[Any]]) -> ClaimResult:
    """One claim alone (a family of one), at ALPHA."""
    return decide([evidence(claim, runs, sweep)])[0]


def check_experiment(record: SweepRecord, runs: Sequence[Run]) -> list[ClaimResult]:
    """Every claim of an experiment (its sweep record) over its runs: at once, or look by look as
    `--until-decided` looked."""
    claims = [parse_claim(text, record.sweep) for text in record.claims]
    looks = record.looks
    if looks is None or not looks.seeds:
        return decide([evidence(c, runs, record.sweep) for c in claims])
    final: dict[int, ClaimResult] = {}
    seen: set[int] = set()
    for k, (added, level) in enumerate(zip(looks.seeds, looks.levels, strict=False), start=1):
        seen.update(added)
        pending = [i for i in range(len(claims)) if i not in final or final[i].verdict == "inconclusive"]
        at_look = [r for r in runs if r.seed in seen]
        for i, result in zip(pending, decide([evidence(claims[i], at_look, record.sweep) for i in pending], level),
                             strict=True):
            final[i] = replace(result, look=k, reason=f"look {k} ({plural(len(seen), 'seed')}): {result.reason}")
    return [final[i] for i in range(len(claims))]


def procedure(record: SweepRecord) -> str:
    """How the claims were tested: FIXED, or the looks' procedure."""
    return record.looks.procedure if record.looks is not None else FIXED
