"""When are two runs the same run? When their resolved specs are equal: what spec.yaml holds is what
the run is (a sweep over train.device or train.threads makes different runs, on purpose). One
definition for skipping completed runs, the exclusive run claim and matching runs to resume.

A resume may still change the keys that say where the data are kept and what computes the run
(RESULT_NEUTRAL): the experiment stays the same (though another device or thread count may change
the last bits of a float). Any other difference would make the continued run a different one.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cnnlab.rundir.records import OUTPUT_ONLY

# Keys that say where and how fast a run computes, or what else it writes, not what it computes.
RESULT_NEUTRAL = ("data.root", "data.download", "train.device", "train.threads", "train.tensorboard")
# OUTPUT_ONLY: keys that change only what a run writes beside its results (a TensorBoard stream): no
# part of what the run is, so a run that completed with either value is done (and runs from before the
# key existed).


def canonical(resolved: dict[str, Any]) -> str:
    """A resolved spec as one string, the OUTPUT_ONLY keys left out: equal strings, same run."""
    kept = dict(resolved)
    for key in OUTPUT_ONLY:
        section, _, name = key.partition(".")
        if isinstance(kept.get(section), dict):
            kept[section] = {k: v for k, v in kept[section].items() if k != name}
    return json.dumps(kept, sort_keys=True)


def identity_key(resolved: dict[str, Any]) -> str:
    """A short digest of the resolved spec, fit for a file name (the run claim)."""
    return hashlib.sha256(canonical(resolved).encode()).hexdigest()[:20]


def differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two resolved specs, in `old`'s order (then `new`'s)."""
    found = []
    for key in [*old, *(k for k in new if k not in old)]:
        dotted = f"{prefix}{key}"
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            found += differences(a, b, f"{dotted}.")
        elif a != b or type(a) is not type(b):
            found.append(dotted)
    return found


def result_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The differences that change the result (every key but the RESULT_NEUTRAL ones)."""
    return [key for key in differences(old, new) if key not in RESULT_NEUTRAL]
