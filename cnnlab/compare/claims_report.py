"""An experiment's claims in `cnnlab report`: the claims table of its section, the legend that states
the rules the verdicts follow, and claims.json (typed, and read back through the same type).

Everything here comes from the runs alone, formatted deterministically: the same runs give the same
bytes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from cnnlab.compare.claims import ALPHA, CHANCE_TOLERANCE, EQUIVALENCE_MARGIN, LEARNED_ABOVE, TESTS, Figures
from cnnlab.compare.decide import ClaimResult
from cnnlab.compare.multiplicity import FIXED
from cnnlab.compare.power import MAX_SEEDS, POWER
from cnnlab.rundir.records import Looks, Record, RecordError
from cnnlab.spec.claims import Claim
from cnnlab.util.reading import RECORD_BYTES, NotReadable, read_bounded
from cnnlab.util.text import markdown_table

CLAIMS_FILE = "claims.json"
VERDICT_MARKS = {"holds": "✅ holds", "fails": "❌ fails", "inconclusive": "❔ inconclusive"}


class ClaimVerdict(Record):
    """One object of claims.json: a claim of an experiment, its verdict and the numbers behind it."""

    experiment: str
    claim: str
    verdict: str  # holds | fails | inconclusive
    test: str  # a key of cnnlab.compare.claims.TESTS
    p: float | None  # of the conclusion reported (the claimed one, or the opposite for fails)
    p_holm: float | None  # the same, Holm-adjusted over the experiment's tested claims
    difference: float | None  # mean (or share) of the left group minus the right's (or minus chance)
    ci_low: float | None  # its 95% interval
    ci_high: float | None
    hedges_g: float | None
    seeds: dict[str, int]  # group → seeds with the metric
    seeds_needed: int | None  # per group, for an inconclusive claim (null: decided, or more than MAX_SEEDS)
    procedure: str  # fixed, or the --until-decided looks' procedure


def claim_verdicts(experiment: str, results: Sequence[ClaimResult], procedure: str) -> list[ClaimVerdict]:
    out = []
    for r in results:
        effect = r.evidence.effect
        seeds = {r.left.label: r.left.n, **({r.right.label: r.right.n} if r.right is not None else {})}
        out.append(ClaimVerdict(
            experiment=experiment, claim=r.claim.text, verdict=r.verdict, test=r.evidence.test, p=r.p_value,
            p_holm=r.p_holm, difference=effect.difference if effect else None, ci_low=effect.low if effect else None,
            ci_high=effect.high if effect else None, hedges_g=effect.hedges_g if effect else None, seeds=seeds,
            seeds_needed=r.seeds_needed, procedure=procedure))
    return out


def claims_json(verdicts: Sequence[ClaimVerdict]) -> str:
    """claims.json's text: every claim of the report, in its order, floats as Python writes them."""
    return json.dumps([v.model_dump(mode="json") for v in verdicts], indent=2, ensure_ascii=False) + "\n"


def read_claims_json(path: Path) -> list[ClaimVerdict]:
    try:
        return TypeAdapter(list[ClaimVerdict]).validate_json(read_bounded(path, RECORD_BYTES, "claims file"))
    except NotReadable as err:
        raise RecordError(path, err.reason) from None
    except (OSError, ValidationError) as err:
        raise RecordError(path, f"not a claims file ({str(err).splitlines()[0]})") from None


# --------------------------------------------------------------------------- the table


def _points(claim: Claim) -> bool:
    """Whether the claim's figures are shares (shown in percent and compared in points)."""
    return claim.accuracy or claim.learns


def _number(claim: Claim, value: float | None) -> str:
    if value is None:
        return "—"
    return f"{100 * value:.2f}" if _points(claim) else f"{value:.4g}"


def _group_cell(claim: Claim, figures: Figures) -> str:
    if not figures.n:
        return f"{figures.label}: no finished runs"
    missing = f", {figures.missing} without it" if figures.missing else ""
    bimodal = f"; ⚠ bimodal: {figures.learned} of {figures.tested} seeds learn" if figures.bimodal else ""
    if claim.learns:
        learned = round(sum(figures.by_seed.values()))
        return f"{figures.label}: {learned} of {figures.n} seeds learn{missing}"
    spread = f" ± {_number(claim, figures.std)}" if figures.std is not None else ""
    unit = " %" if _points(claim) else ""
    return f"{figures.label}: {_number(claim, figures.mean)}{spread}{unit} (n={figures.n}{missing}){bimodal}"


def _difference_cell(result: ClaimResult) -> str:
    effect, claim = result.evidence.effect, result.claim
    if effect is None:
        return "—"
    unit = " pts" if _points(claim) else ""
    if effect.low == effect.high:
        return f"{_signed(claim, effect.difference)}{unit}"
    return f"{_signed(claim, effect.difference)}{unit} [{_number(claim, effect.low)}, {_number(claim, effect.high)}]"


def _signed(claim: Claim, value: float) -> str:
    text = _number(claim, value)
    return text if text.startswith("-") else f"+{text}"


def _p_cell(result: ClaimResult) -> str:
    if result.p_value is None:
        return "—"
    return f"{result.p_value:.3g} ({result.p_holm:.3g})"


def seeds_needed_words(result: ClaimResult) -> str:
    if not result.settles_with_seeds:
        return "—"
    if result.seeds_needed is None:
        if result.evidence.test in ("tost", "chance"):
            return f"more than {MAX_SEEDS}: the spread is too wide to settle the margin with seeds"
        return f"more than {MAX_SEEDS}: the difference is too small to settle with seeds"
    return f"about {result.seeds_needed} seeds per group would decide this, tested once"


def claims_table(results: Sequence[ClaimResult]) -> str:
    rows = []
    for r in results:
        claim = r.claim
        other = (_group_cell(claim, r.right) if r.right is not None
                 else f"chance: {_number(claim, r.chance)} %")
        g = r.evidence.effect.hedges_g if r.evidence.effect else None
        rows.append([f"`{claim.text}`", VERDICT_MARKS[r.verdict], _group_cell(claim, r.left), other,
                     _difference_cell(r), "—" if g is None else f"{g:.2f}", _p_cell(r), TESTS[r.evidence.test],
                     seeds_needed_words(r), r.reason])
    return markdown_table(["claim", "verdict", "group", "against", "difference [95% CI]", "Hedges' g",
                           "p (Holm)", "test", "seeds needed", "why"], rows)


def procedure_line(looks: Looks | None, tested: int) -> str:
    """How this experiment's claims were tested, in one sentence."""
    family = f"Holm over its {tested} tested claims" if tested != 1 else "one tested claim"
    if looks is None:
        return f"Claims tested once, at α = {ALPHA} ({family}; procedure `{FIXED}`)."
    levels = ", ".join(f"{n} seeds: {level:.4f}" for n, level in zip(looks.planned, looks.levels, strict=True))
    return (f"Claims decided look by look (`cnnlab train --until-decided`; procedure `{looks.procedure}`): "
            f"{len(looks.seeds)} of {len(looks.planned)} planned looks made, testing at ({levels}), {family} "
            f"at each look.")


def verdict_legend() -> str:
    return " ".join([
        f"Verdicts over seeds. `A > B` (or `<`) holds when Welch's one-sided t-test gives p below the level after "
        f"Holm's adjustment over the experiment's tested claims (α = {ALPHA} when the claims are tested once), "
        f"fails when the opposite direction's adjusted p is below it, and is inconclusive otherwise or with fewer "
        f"than two seeds per group. `A ~= B` holds when two one-sided Welch tests put the difference within "
        f"±{EQUIVALENCE_MARGIN:.0%} (absolute) and fails when it is beyond; `A ~ chance` is the same test "
        f"against chance (1/classes) within ±{CHANCE_TOLERANCE:.0%}. `A > B on learns` compares how many seeds "
        f"learn (test accuracy more than {LEARNED_ABOVE:.0%} above chance) by Fisher's exact test; a group "
        f"whose seeds split between learning and not is flagged bimodal, whatever its claim's test.",
        "A figure of the architecture (parameters, MACs, receptive field), the same in every seed, needs no "
        "test: the claim holds or fails by it, outside the adjustment.",
        "`epochs_to(val_acc >= X)` is the first epoch reaching X; a run that never does counts as its epochs + 1 "
        "(a lower bound: such a run looks faster than it is). `auc(val_acc)` is the mean of the validation "
        "curve over the epochs.",
        "The p column shows the raw p and, in brackets, the Holm-adjusted one; the difference is the left "
        "group's mean minus the right's (percentage points for accuracies and shares), with its 95% Welch "
        "interval (Newcombe's for shares); Hedges' g is it in pooled standard deviations.",
        f"Seeds needed: per group, for an inconclusive claim, the smallest number that would decide it with "
        f"{POWER:.0%} power if the difference and spread seen are real (noncentral t for Welch, the two one-sided "
        f"tests' power for an equivalence, exact binomial sums for Fisher) in an experiment that tests once, at "
        f"α over the number of undecided claims (the level the first of them faces in Holm's steps); more than "
        f"{MAX_SEEDS} is not given.",
        "Under `--until-decided` the level of each look is α split over the planned looks by Bonferroni's "
        "inequality, by the increments of Lan & DeMets' (1983) Pocock-type spending function "
        "α·ln(1 + (e − 1)·t), t the look's share of the most seeds: the chance of a false verdict at any "
        "look stays below α.",
    ])
