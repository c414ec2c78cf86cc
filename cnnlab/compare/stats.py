"""The tests claims are decided by, for a handful of seeds, without SciPy.

- Welch's t-test (Welch 1947): t = (mean_a − mean_b) / sqrt(s_a²/n_a + s_b²/n_b), with the
  Welch–Satterthwaite degrees of freedom ν = (s_a²/n_a + s_b²/n_b)² / ((s_a²/n_a)²/(n_a−1) +
  (s_b²/n_b)²/(n_b−1)). The one-sided p-value is the Student-t tail P(T_ν ≥ t) = ½·I_{ν/(ν+t²)}(ν/2, ½)
  for t ≥ 0, with I the regularized incomplete beta function, evaluated by its continued fraction
  (Numerical Recipes §6.4, modified Lentz); t quantiles invert it by bisection.
- Fisher's exact test (Fisher 1922) of a 2×2 table, one-sided: the hypergeometric probability of a
  table at least as extreme, given its margins.
tests/test_claim_statistics.py checks them against scipy.stats.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= d * c
        if abs(d * c - 1.0) < eps:
            break
    return result


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def t_tail(t: float, df: float) -> float:
    """P(T ≥ t) for Student's t with `df` degrees of freedom."""
    if math.isinf(t):
        return 0.0 if t > 0 else 1.0
    half = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return half if t >= 0 else 1.0 - half


def t_quantile(p: float, df: float) -> float:
    """The t with P(T_df ≥ t) = p, for 0 < p < 1."""
    low, high = -1.0, 1.0
    while t_tail(high, df) > p:
        high *= 2.0
    while t_tail(low, df) < p:
        low *= 2.0
    for _ in range(200):
        middle = 0.5 * (low + high)
        if t_tail(middle, df) > p:
            low = middle
        else:
            high = middle
        if high - low <= 1e-12 * max(1.0, abs(middle)):
            break
    return 0.5 * (low + high)


def welch_df(va: float, vb: float, na: int, nb: int) -> float:
    """Welch–Satterthwaite degrees of freedom from the squared standard errors va = s_a²/n_a, vb."""
    return (va + vb) ** 2 / (va**2 / (na - 1) + vb**2 / (nb - 1))


@dataclass(frozen=True)
class Welch:
    t: float
    df: float
    p_greater: float  # one-sided p-value of "mean_a − mean_b > shift"

    @property
    def p_less(self) -> float:
        """One-sided p-value of "mean_a − mean_b < shift"."""
        return 1.0 - self.p_greater


def welch(a: Sequence[float], b: Sequence[float], shift: float = 0.0) -> Welch:
    """Welch's t-test of two samples of at least two values each, of mean_a − mean_b against `shift`
    (0: "is there a difference"; ±margin: the two one-sided tests of an equivalence claim)."""
    if len(a) < 2 or len(b) < 2:
        raise ValueError("Welch's test needs at least two values in each sample")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff = statistics.fmean(a) - statistics.fmean(b) - shift
    if va + vb == 0.0:  # both samples constant: the difference is certain, or there is none
        p = 0.0 if diff > 0 else 1.0 if diff < 0 else 0.5
        return Welch(math.copysign(math.inf, diff) if diff else 0.0, math.inf, p)
    t = diff / math.sqrt(va + vb)
    df = welch_df(va, vb, len(a), len(b))
    return Welch(t, df, t_tail(t, df))


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """One-sided p of Fisher's exact test that the first row's share a/(a+b) is the greater: the
    probability, given the margins, of a first cell of a or more."""
    row, column, total = a + b, a + c, a + b + c + d

    def table(k: int) -> float:
        return math.comb(column, k) * math.comb(total - column, row - k)

    whole = math.comb(total, row)
    return min(1.0, sum(table(k) for k in range(a, min(row, column) + 1)) / whole)
