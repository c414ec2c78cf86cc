"""Run ids: short, unique and readable, e.g. `20261127-041213-relu-s0-3f9c`."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from datetime import datetime
from typing import Any


def slug(value: Any, limit: int = 24) -> str:
    """A value as a short, filesystem-safe piece of a run id (a list or mapping: a short digest)."""
    if isinstance(value, dict) and isinstance(value.get("name"), str):  # a registry choice with options
        value = "_".join([value["name"], *(f"{k}{v}" for k, v in value.items() if k != "name")])
    if isinstance(value, (list, dict)):
        return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:6]
    text = re.sub(r"[^A-Za-z0-9.]+", "_", str(value)).strip("_")
    return text[:limit] or "x"


def make_run_id(swept: dict[str, Any], seed: int, now: datetime | None = None) -> str:
    """`20261127-041213-relu-s0-3f9c`: time, swept values, seed, a random suffix for uniqueness."""
    parts = [(now or datetime.now()).strftime("%Y%m%d-%H%M%S")]
    parts += [slug(v) for v in swept.values()]
    parts += [f"s{seed}", secrets.token_hex(2)]
    return "-".join(parts)
