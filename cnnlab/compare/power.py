"""How many seeds would decide a claim: the power of its test at n seeds per group, if the
difference and spread the runs show are real, and the smallest n with 80% power.

- Welch's t (A > B, A < B): power = P(T' ≥ t_{1−α, ν}) with T' noncentral t of ν Welch–Satterthwaite
  degrees of freedom and noncentrality δ = |Δ| / sqrt(s_a²/n + s_b²/n).
- Two one-sided tests (A ~= B within ±m): power = P(−m + t·SE·S < D < m − t·SE·S), D ~ N(Δ, SE²),
  SE·S the estimated standard error (S² ~ χ²_ν/ν, independent of D).
- Fisher's exact test (shares of seeds that learn): the exact probability that the test rejects,
  summed over every outcome of two binomial groups of n seeds at the observed shares.

The noncentral t and TOST probabilities are expectations over S, computed by Simpson's rule in
u = sqrt(S) (smooth at 0 for every ν); tests/test_claim_statistics.py checks them against SciPy.
"""

from __future__ import annotations

import math

from cnnlab.compare.stats import fisher_exact, normal_cdf, t_quantile, welch_df

POWER = 0.8  # "would decide it": with this probability
MAX_SEEDS = 50  # beyond: the difference is too small to settle with seeds
POINTS = 600  # Simpson intervals for an expectation over S


def _log_density_of_s(s: float, df: float) -> float:
    """log of the density of S = sqrt(V/df), V ~ χ²(df)."""
    return (math.log(2.0) + (df / 2) * math.log(df / 2) - math.lgamma(df / 2) + (df - 1) * math.log(s)
            - df * s * s / 2)


def expect_over_s(fn, df: float) -> float:
    """E[fn(S)] for S = sqrt(χ²_df / df)."""
    if math.isinf(df):
        return fn(1.0)
    top = math.sqrt(4.0 + 12.0 / math.sqrt(2 * df))  # S beyond top² has no weight left
    h = top / POINTS
    total = 0.0
    for i in range(1, POINTS + 1):  # the term at u = 0 is 0
        u = i * h
        weight = 1 if i == POINTS else (4 if i % 2 else 2)
        total += weight * fn(u * u) * math.exp(_log_density_of_s(u * u, df)) * 2 * u
    return total * h / 3


def noncentral_t_sf(t: float, df: float, nc: float) -> float:
    """P(T' ≥ t) for T' = (Z + nc) / S: the noncentral t with `df` degrees of freedom."""
    return expect_over_s(lambda s: 1.0 - normal_cdf(t * s - nc), df)


def _welch_terms(sd_a: float, sd_b: float, n: int) -> tuple[float, float]:
    """The standard error of the difference at n seeds per group, and its degrees of freedom (none to
    speak of without a spread)."""
    va, vb = sd_a**2 / n, sd_b**2 / n
    if va + vb == 0.0:
        return 0.0, math.inf
    return math.sqrt(va + vb), welch_df(va, vb, n, n)


def welch_power(diff: float, sd_a: float, sd_b: float, n: int, alpha: float) -> float:
    """Power of the one-sided Welch test at level `alpha` with n seeds per group, for a true difference
    `diff` in the tested direction."""
    se, df = _welch_terms(sd_a, sd_b, n)
    if se == 0.0:
        return 1.0 if diff > 0 else 0.0
    return noncentral_t_sf(t_quantile(alpha, df), df, diff / se)


def tost_power(diff: float, sd_a: float, sd_b: float, margin: float, n: int, alpha: float) -> float:
    """Power of the two one-sided tests of |Δ| < margin at level `alpha` with n seeds per group."""
    se, df = _welch_terms(sd_a, sd_b, n)
    if se == 0.0:
        return 1.0 if abs(diff) < margin else 0.0
    t = t_quantile(alpha, df)

    def inside(s: float) -> float:
        high, low = (margin - t * se * s - diff) / se, (-margin + t * se * s - diff) / se
        return max(0.0, normal_cdf(high) - normal_cdf(low))

    return expect_over_s(inside, df)


def fisher_power(share_a: float, share_b: float, n: int, alpha: float) -> float:
    """Probability that the one-sided Fisher test (A's share greater) rejects at `alpha`."""
    def binomial(k: int, p: float) -> float:
        return math.comb(n, k) * p**k * (1 - p) ** (n - k)

    return sum(binomial(ka, share_a) * binomial(kb, share_b)
               for ka in range(n + 1) for kb in range(n + 1)
               if binomial(ka, share_a) * binomial(kb, share_b) > 1e-12
               and fisher_exact(ka, n - ka, kb, n - kb) < alpha)


def seeds_needed(power_at) -> int | None:
    """The smallest n (from 2) whose power reaches POWER; None beyond MAX_SEEDS."""
    for n in range(2, MAX_SEEDS + 1):
        if power_at(n) >= POWER:
            return n
    return None
