"""Run ids: short, unique and readable, e.g. `20261127-041213-relu-s0-3f9c` for the relu run of a
sweep, `20261127-041213-init_zeros-s0-3f9c` for `--set model.init=zeros`: the time, each swept value,
each `--set` override (key and value), the seed and a random suffix for uniqueness. Swept values and
overrides read as their labels do (cnnlab.spec.labels), made filesystem-safe."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime

PIECE = 24  # characters at most per swept value or override
OVERRIDES = 30  # characters at most for the overrides named in the id; the rest are counted (`plus2`)


def slug(text: str, limit: int = PIECE) -> str:
    """`text` as a short, filesystem-safe piece of a run id: letters, digits and dots; anything else
    becomes one underscore."""
    return re.sub(r"[^A-Za-z0-9.]+", "_", text).strip("_")[:limit].strip("_") or "x"


def _value_piece(label: str) -> str:
    """A swept value's piece: its value ('relu'); a value named by its position reads with its key
    ('#2[16,32]' of conv → 'conv2_16_32')."""
    key, _, value = label.partition("=")
    return slug(key.split(".")[-1].split("[")[0] + value[1:] if value.startswith("#") else value)


def make_run_id(swept: Iterable[str], overrides: Iterable[str], seed: int, now: datetime | None = None) -> str:
    """The id of a run from the labels (`key=value`) of its swept values and of its `--set` overrides."""
    parts = [(now or datetime.now()).strftime("%Y%m%d-%H%M%S")]
    parts += [_value_piece(label) for label in swept]
    named: list[str] = []
    pieces = [slug(label) for label in overrides]
    for piece in pieces:
        if len("-".join([*named, piece])) > OVERRIDES:
            break
        named.append(piece)
    parts += named + [f"plus{len(pieces) - len(named)}"] * (len(pieces) > len(named))
    parts += [f"s{seed}", secrets.token_hex(2)]
    return "-".join(parts)


def undated(run_id: str) -> str:
    """A run id without its leading date and time (`20261127-041213-relu-s0-3f9c` → `relu-s0-3f9c`):
    still unique in its folder, and what `cnnlab eval FOLDER/PIECE` accepts."""
    return re.sub(r"^\d{8}-\d{4,6}-", "", run_id)


SEED_AND_SUFFIX = re.compile(r"(?:^|-)(s\d+-[0-9a-f]{4})$")


def short_ids(run_ids: Sequence[str]) -> list[str]:
    """Each id by its end, the seed and the random suffix (`20261127-041213-relu-s0-3f9c` → `s0-3f9c`),
    which `cnnlab eval FOLDER/PIECE` takes; an id without them, or whose end another id of `run_ids`
    shares, without its date and time only."""
    ends = [found.group(1) if (found := SEED_AND_SUFFIX.search(run_id)) else undated(run_id) for run_id in run_ids]
    counts = Counter(ends)
    return [end if counts[end] == 1 else undated(run_id) for run_id, end in zip(run_ids, ends, strict=True)]
