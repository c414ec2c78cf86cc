"""What a run's numbers mean, in plain words with the number: at chance, diverged.

Said once per run: after a single run's summary, in a sweep's line for that run.
"""

from __future__ import annotations

import math

from cnnlab.rundir.records import RunSummary

NOISE_Z = 2.5  # test accuracy within this many standard errors above chance is not evidence of learning


def at_chance(summary: RunSummary) -> str | None:
    """'12.50% = chance for 8 classes: the network did not learn' when the test accuracy is not
    significantly above chance: within NOISE_Z binomial standard errors of it on the test split."""
    chance, acc = summary.chance_acc, summary.test_acc
    if chance is None or acc is None:
        return None
    n = summary.split_sizes.get("test", 0)
    noise = NOISE_Z * math.sqrt(chance * (1 - chance) / n) if n else 0.0
    if acc > chance + noise:
        return None
    classes = len(summary.classes)
    if classes and math.isclose(chance, 1 / classes):
        what = f"chance for {classes} classes"
    else:
        what = f"chance ({chance:.2%}: always answering the most common class)"
    sign = "=" if abs(acc - chance) < 0.005 else "≈"
    return f"test acc {acc:.2%} {sign} {what}: the network did not learn"


def diverged(summary: RunSummary) -> str | None:
    """'the loss became NaN or infinite in epoch 3' for a diverged run."""
    if not summary.diverged:
        return None
    return f"diverged: the loss became NaN or infinite in epoch {(summary.epochs_run or 0) + 1}"


def verdicts(summary: RunSummary | None) -> list[str]:
    """Every plain-words verdict on a finished run's numbers."""
    if summary is None:
        return []
    return [text for text in (diverged(summary), at_chance(summary)) if text]
