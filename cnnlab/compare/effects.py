"""How large a claimed difference is: the difference of the group means with its 95% Welch
confidence interval, and Hedges' g (the standardized difference, corrected for small samples).

Welch's interval (Welch 1947): (mean_a − mean_b) ± t_{0.975, ν}·sqrt(s_a²/n_a + s_b²/n_b), ν the
Welch–Satterthwaite degrees of freedom (cnnlab.compare.stats). Hedges' g (Hedges 1981; Hedges &
Olkin 1985): g = J(m)·(mean_a − mean_b)/s_p with the pooled standard deviation
s_p = sqrt(((n_a−1)s_a² + (n_b−1)s_b²)/m), m = n_a + n_b − 2, and the exact correction
J(m) = Γ(m/2) / (sqrt(m/2)·Γ((m−1)/2)). Shares (how often seeds learn) get Newcombe's interval for
a difference of proportions (Newcombe 1998, method 10: from the groups' Wilson score intervals).
tests/test_claim_statistics.py checks each against SciPy.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from cnnlab.compare.stats import t_quantile, welch_df

CONFIDENCE = 0.95
Z_975 = 1.959963984540054  # the standard normal's 97.5th percentile


@dataclass(frozen=True)
class Effect:
    difference: float  # mean_a − mean_b (or share_a − share_b)
    low: float  # of the 95% interval
    high: float
    hedges_g: float | None = None  # None where it is undefined (no spread, or shares)


def mean_difference(a: Sequence[float], b: Sequence[float]) -> Effect:
    """The difference of two groups of at least two values each, its Welch interval and Hedges' g."""
    diff = statistics.fmean(a) - statistics.fmean(b)
    va, vb = statistics.variance(a), statistics.variance(b)
    se = math.sqrt(va / len(a) + vb / len(b))
    if se == 0.0:
        return Effect(diff, diff, diff, None)
    half = t_quantile((1 - CONFIDENCE) / 2, welch_df(va / len(a), vb / len(b), len(a), len(b))) * se
    return Effect(diff, diff - half, diff + half, hedges_g(a, b))


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float | None:
    m = len(a) + len(b) - 2
    pooled = ((len(a) - 1) * statistics.variance(a) + (len(b) - 1) * statistics.variance(b)) / m
    if pooled == 0.0:
        return None
    correction = math.exp(math.lgamma(m / 2) - math.lgamma((m - 1) / 2)) / math.sqrt(m / 2)
    return correction * (statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(pooled)


def one_sample(values: Sequence[float], reference: float) -> Effect:
    """mean − reference with its t interval (a group against chance)."""
    diff = statistics.fmean(values) - reference
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    half = t_quantile((1 - CONFIDENCE) / 2, len(values) - 1) * se if se else 0.0
    return Effect(diff, diff - half, diff + half)


def wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson's 95% score interval of a share k/n (Wilson 1927)."""
    p, z2 = k / n, Z_975**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z_975 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return centre - half, centre + half


def share_difference(k_a: int, n_a: int, k_b: int, n_b: int) -> Effect:
    """share_a − share_b with Newcombe's hybrid score interval (method 10)."""
    pa, pb = k_a / n_a, k_b / n_b
    (la, ua), (lb, ub) = wilson(k_a, n_a), wilson(k_b, n_b)
    diff = pa - pb
    below, above = math.sqrt((pa - la) ** 2 + (ub - pb) ** 2), math.sqrt((ua - pa) ** 2 + (pb - lb) ** 2)
    return Effect(diff, diff - below, diff + above)
