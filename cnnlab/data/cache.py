"""Caches in `data.root`: decoded images (ImageFolder, SVHN's .mat, CSV text) and normalization statistics.

A cache file's name carries a key hashed from everything its content depends on (the files'
names, sizes and modification times, and the options), so a changed source or option simply
misses. Files are written atomically; a cache that cannot be written or read is skipped, never
an error: it only saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cnnlab.data.source import CACHE_DIR
from cnnlab.util.files import atomic_path
from cnnlab.util.reading import RECORD_BYTES, NotReadable, checkpoint_bytes, open_bounded, read_bounded

CACHE_VERSION = 1  # bump when the layout of cached content changes


def files_fingerprint(paths: Iterable[Path], relative_to: Path) -> list[tuple[str, int, int]]:
    """(relative name, size, mtime in ns) of every existing file: what a cache of them depends on."""
    out = []
    for path in paths:
        with contextlib.suppress(OSError):
            stat = path.stat()
            out.append((path.relative_to(relative_to).as_posix(), stat.st_size, stat.st_mtime_ns))
    return out


def cache_key(*parts: Any) -> str:
    text = json.dumps([CACHE_VERSION, *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cache_path(root: Path, name: str, key: str, suffix: str) -> Path:
    return Path(root) / CACHE_DIR / f"{name}-{key}{suffix}"


def load_tensors(path: Path) -> dict[str, Any] | None:
    """The tensors saved at `path`, or None if there is no usable cache."""
    import torch

    try:
        with open_bounded(path, checkpoint_bytes(), "cache") as file:
            return torch.load(file, weights_only=True)
    except Exception:  # noqa: BLE001 - absent, unreadable or from another version: decode again
        return None


def save_tensors(path: Path, tensors: dict[str, Any]) -> None:
    import torch

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save(tensors, tmp)


def load_arrays(path: Path) -> dict[str, Any] | None:
    """The numpy arrays saved at `path` (an uncompressed .npz, read without pickle), or None if there is
    no usable cache. numpy, not torch: the pre-flight reads and fills these caches."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as saved:
            return {name: saved[name] for name in saved.files}
    except Exception:  # noqa: BLE001 - absent, unreadable or from another version: decode again
        return None


def save_arrays(path: Path, arrays: dict[str, Any]) -> None:
    import numpy as np

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, tmp.open("wb") as f:  # a file object: np.savez adds no suffix to it
            np.savez(f, **arrays)


def load_json(path: Path) -> Any:
    try:
        return json.loads(read_bounded(path, RECORD_BYTES, "cache"))
    except (OSError, ValueError, NotReadable):
        return None


def save_json(path: Path, data: Any) -> None:
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data), encoding="utf-8")
