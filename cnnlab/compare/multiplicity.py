"""Many claims, and more than one look at them.

- The claims of one experiment are one family: their p-values are adjusted by Holm's step-down
  method (Holm 1979), p_holm(i) = max over j ≤ i of min(1, (m − j + 1)·p(j)) for the p-values sorted
  ascending, so that the chance of any false verdict in the experiment stays below α.
- `--until-decided` looks at the claims again after adding seeds. Looking again must not raise that
  chance, so α is split over the planned looks by Bonferroni's inequality: look k tests at
  α_k = α(t_k) − α(t_{k−1}), the increments of Lan & DeMets' (1983) Pocock-type spending function
  α(t) = α·ln(1 + (e − 1)·t) at the information fractions t_k = n_k / N (n_k seeds at look k of at
  most N). The increments add up to α, so by the union bound the chance of a false verdict at any
  look stays below α whatever the correlation between looks (a group-sequential design with exact
  boundaries would spend the same α with more power; this one is simpler and conservative).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

FIXED = "fixed"  # one look: the claims are tested once, at α
SEQUENTIAL = "pocock-spending-bonferroni"  # --until-decided: α split over the planned looks
MAX_LOOKS = 4  # the looks --until-decided plans: the spec's seeds, at most two between, and N


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values, in the order given."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    adjusted, running = [0.0] * len(p_values), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


def pocock_spending(t: float, alpha: float) -> float:
    """Lan & DeMets' Pocock-type α-spending function: α spent by information fraction t."""
    return alpha * math.log(1 + (math.e - 1) * t)


def planned_looks(first: int, most: int) -> list[int]:
    """Seeds per group at each look: `first` (the spec's), evenly spaced ones, and `most`."""
    if most <= first:
        return [first]
    count = min(MAX_LOOKS, most - first + 1)
    return sorted({first + round(k * (most - first) / (count - 1)) for k in range(count)})


def look_levels(looks: Sequence[int], alpha: float) -> list[float]:
    """α_k of each look (they add up to α)."""
    spent = [pocock_spending(n / looks[-1], alpha) for n in looks]
    return [spent[0], *(b - a for a, b in zip(spent, spent[1:], strict=False))]
