"""The statistics behind claims, checked against SciPy (a dev dependency; cnnlab itself does without):
Welch's interval, Hedges' g, Holm's adjustment, Fisher's exact test, the t quantile, the noncentral t
and the powers behind "seeds needed"; then by simulation: at the seeds it names, "seeds needed" decides
at least 70% of experiments, and looking again under --until-decided keeps false "holds" below α."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import numpy as np
import pytest
from scipy import special, stats

from cnnlab.compare import power
from cnnlab.compare.effects import hedges_g, mean_difference, one_sample, share_difference
from cnnlab.compare.multiplicity import holm, look_levels, planned_looks, pocock_spending
from cnnlab.compare.stats import fisher_exact, t_quantile, welch


def samples(rng: random.Random, count: int = 200):
    for _ in range(count):
        a = [rng.gauss(rng.uniform(-1, 1), rng.uniform(0.01, 2)) for _ in range(rng.randint(2, 9))]
        b = [rng.gauss(0, rng.uniform(0.01, 2)) for _ in range(rng.randint(2, 9))]
        yield a, b


def test_welch_interval_matches_scipy():
    for a, b in samples(random.Random(1)):
        ours = mean_difference(a, b)
        theirs = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
        assert ours.difference == pytest.approx(statistics.fmean(a) - statistics.fmean(b), abs=1e-12)
        assert (ours.low, ours.high) == pytest.approx((theirs.low, theirs.high), rel=1e-8, abs=1e-10)


def test_one_sample_interval_matches_scipy():
    for a, _ in samples(random.Random(2), 100):
        ours, theirs = one_sample(a, 0.3), stats.ttest_1samp(a, 0.3).confidence_interval(0.95)
        assert (ours.low + 0.3, ours.high + 0.3) == pytest.approx((theirs.low, theirs.high), rel=1e-8)


def test_hedges_g_is_cohens_d_times_the_exact_correction():
    for a, b in samples(random.Random(3), 100):
        m = len(a) + len(b) - 2
        pooled = math.sqrt(((len(a) - 1) * np.var(a, ddof=1) + (len(b) - 1) * np.var(b, ddof=1)) / m)
        correction = special.gamma(m / 2) / (math.sqrt(m / 2) * special.gamma((m - 1) / 2))
        assert hedges_g(a, b) == pytest.approx(correction * (np.mean(a) - np.mean(b)) / pooled, rel=1e-10)
    assert pytest.approx(special.gamma(20) / (math.sqrt(20) * special.gamma(19.5)), rel=1e-4) == 1 - 3 / (4 * 40 - 1)


def test_holm_is_closed_testing_with_bonferroni():
    """Holm's adjusted p of a claim is the largest Bonferroni p over every subset of claims holding it
    (the closure principle, Marcus et al. 1976), computed here by brute force."""
    rng = random.Random(4)
    for _ in range(200):
        ps = [rng.choice([rng.random(), rng.random() ** 4, 0.0]) for _ in range(rng.randint(1, 6))]
        brute = [max(min(1.0, len(s) * min(ps[j] for j in s))
                     for r in range(1, len(ps) + 1) for s in itertools.combinations(range(len(ps)), r) if i in s)
                 for i in range(len(ps))]
        assert holm(ps) == pytest.approx(brute, abs=1e-12)


def test_fisher_exact_matches_scipy():
    for a, b, c, d in itertools.product(range(0, 7, 2), range(0, 5), range(0, 6, 3), range(0, 4)):
        if a + b and c + d and a + c and b + d:
            theirs = stats.fisher_exact([[a, b], [c, d]], alternative="greater").pvalue
            assert fisher_exact(a, b, c, d) == pytest.approx(theirs, rel=1e-9)


def test_share_difference_interval_is_newcombes():
    """Newcombe (1998), Table II, example (a): 56/70 − 48/80 = 0.2000, method 10 interval 0.0524 to 0.3339."""
    effect = share_difference(56, 70, 48, 80)
    assert (round(effect.difference, 4), round(effect.low, 4), round(effect.high, 4)) == (0.2, 0.0524, 0.3339)


def test_t_quantile_and_noncentral_t_match_scipy():
    for p, df in [(0.025, 3.5), (0.05, 10), (0.001, 2.2), (0.9, 5), (0.0125, 1.3)]:
        assert t_quantile(p, df) == pytest.approx(stats.t.isf(p, df), rel=1e-9)
    for t, df, nc in [(2.0, 5.3, 1.5), (1.7, 2.0, 0.0), (2.5, 3.1, 3.0), (1.9, 18.0, 2.2), (-1.0, 4.0, -2.0),
                      (2.0, 1.2, 1.0), (6.3, 1.05, 4.0)]:
        assert power.noncentral_t_sf(t, df, nc) == pytest.approx(stats.nct.sf(t, df, nc), abs=1e-6)


def test_welch_power_is_the_noncentral_t_tail_at_the_critical_value():
    cases = [(0.1, 0.05, 0.08, 3, 0.05), (0.02, 0.03, 0.03, 10, 0.01), (0.3, 0.4, 0.1, 6, 0.025)]
    for diff, sd_a, sd_b, n, alpha in cases:
        va, vb = sd_a**2 / n, sd_b**2 / n
        df = (va + vb) ** 2 / (va**2 / (n - 1) + vb**2 / (n - 1))
        expected = stats.nct.sf(stats.t.isf(alpha, df), df, diff / math.sqrt(va + vb))
        assert power.welch_power(diff, sd_a, sd_b, n, alpha) == pytest.approx(expected, abs=1e-6)


def _simulated(decides, trials: int = 2000, seed: int = 5) -> float:
    rng = np.random.default_rng(seed)
    return sum(decides(rng) for _ in range(trials)) / trials


@pytest.mark.parametrize(("diff", "sd_a", "sd_b"), [(0.05, 0.04, 0.06), (0.2, 0.25, 0.1), (0.01, 0.01, 0.005)])
def test_the_seeds_needed_decide_most_simulated_experiments(diff, sd_a, sd_b):
    alpha = 0.05
    n = power.seeds_needed(lambda k: power.welch_power(diff, sd_a, sd_b, k, alpha))
    assert n is not None and 2 <= n <= power.MAX_SEEDS

    def decides(rng) -> bool:
        a, b = rng.normal(diff, sd_a, n), rng.normal(0.0, sd_b, n)
        return welch(list(a), list(b)).p_greater < alpha

    assert _simulated(decides) >= 0.7


def test_the_equivalence_power_is_what_two_one_sided_tests_achieve():
    diff, sd, margin, alpha = 0.005, 0.02, 0.02, 0.05
    n = power.seeds_needed(lambda k: power.tost_power(diff, sd, sd, margin, k, alpha))
    assert n is not None

    def decides(rng) -> bool:
        a, b = list(rng.normal(diff, sd, n)), list(rng.normal(0.0, sd, n))
        return max(welch(a, b, shift=-margin).p_greater, welch(a, b, shift=margin).p_less) < alpha

    assert _simulated(decides) >= 0.7
    assert abs(_simulated(decides, 4000, 6) - power.tost_power(diff, sd, sd, margin, n, alpha)) < 0.03


def test_fisher_power_is_the_exact_rejection_probability():
    n, alpha = 6, 0.05
    rng = np.random.default_rng(7)
    trials = 20000
    ka, kb = rng.binomial(n, 0.9, trials), rng.binomial(n, 0.3, trials)
    rejected = [fisher_exact(int(a), n - int(a), int(b), n - int(b)) < alpha for a, b in zip(ka, kb, strict=True)]
    simulated = np.mean(rejected)
    assert power.fisher_power(0.9, 0.3, n, alpha) == pytest.approx(simulated, abs=0.01)


def test_a_difference_too_small_for_seeds_has_no_figure():
    assert power.seeds_needed(lambda k: power.welch_power(0.0001, 0.05, 0.05, k, 0.05)) is None


def test_the_looks_spend_alpha_and_no_more():
    looks = planned_looks(3, 10)
    assert looks == [3, 5, 8, 10]
    levels = look_levels(looks, 0.05)
    assert sum(levels) == pytest.approx(0.05) and all(level > 0 for level in levels)
    assert levels[0] == pytest.approx(pocock_spending(0.3, 0.05))
    assert planned_looks(3, 3) == [3] and planned_looks(3, 4) == [3, 4] and planned_looks(2, 6) == [2, 3, 5, 6]


def false_holds_under_the_null(trials: int, seed: int = 8) -> float:
    """The --until-decided rule on a claim A > B whose two groups come from one distribution: seeds
    added look by look (3, 5, 8, 10), stopping at the first verdict; the share of experiments that
    ended with "holds"."""
    rng = np.random.default_rng(seed)
    looks = planned_looks(3, 10)
    levels = look_levels(looks, 0.05)
    wrong = 0
    for _ in range(trials):
        a, b = rng.normal(0.5, 0.1, looks[-1]), rng.normal(0.5, 0.1, looks[-1])
        for n, level in zip(looks, levels, strict=True):
            test = welch(list(a[:n]), list(b[:n]))
            if test.p_greater < level:
                wrong += 1
                break
            if test.p_less < level:
                break
    return wrong / trials


def test_looking_again_keeps_false_holds_below_alpha():
    rate = false_holds_under_the_null(4000)
    assert rate <= 0.05, rate
