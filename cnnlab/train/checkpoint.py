"""Checkpoints: what last.pt and best.pt hold, written atomically and read safely.

Both hold `model`, `optimizer`, `scheduler`, `epoch` (epochs completed) and `metrics` (that epoch's
row). last.pt also holds `progress`: everything an exact resume needs that the weights do not say —
the metrics rows so far, the monitor's best and the epochs since it improved, the step reached inside
the epoch in progress with that epoch's running sums, and every random state (torch, CUDA, Python,
numpy, the batch-order generator as it was when the epoch began, the augmentation generator).
Everything is tensors and plain data, so `torch.load(..., weights_only=True)` reads it; cnnlab never
loads a checkpoint any other way.
"""

from __future__ import annotations

import pickle
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cnnlab.errors import CnnlabError
from cnnlab.util.files import atomic_path
from cnnlab.util.reading import NotReadable, checkpoint_bytes, open_bounded

FORMAT = 2  # the layout of last.pt and best.pt; `load` refuses a newer one, whose keys may mean something else


class CheckpointError(CnnlabError):
    """A checkpoint that cannot be used; the message names the file and what is wrong with it."""


def save(path: Path, state: dict[str, Any]) -> None:
    """Write a checkpoint atomically, through a Python file: a full disk is an OSError naming `path`
    (`No space left on device: …/last.pt`), not the error torch's zip writer raises after it."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        try:
            torch.save({"format": FORMAT, **state}, file)
        except RuntimeError as err:  # `[enforce fail at inline_container.cc] unexpected pos ...`
            failed = write_failure(err)
            if failed is None:
                raise
            raise OSError(failed.errno, failed.strerror, str(path)) from err


def write_failure(err: BaseException) -> OSError | None:
    """The failed write behind torch's error: the OSError its writer met, which the error's chain holds
    (torch's zip writer fails on closing the archive while the write's OSError propagates)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def load(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """A checkpoint's content, loaded with weights_only=True; CheckpointError (one line) when the file
    is missing, unreadable, not a checkpoint, of a newer format, or holds anything but tensors and plain
    data."""
    try:
        with warnings.catch_warnings(), open_bounded(path, checkpoint_bytes(), "checkpoint") as file:
            warnings.simplefilter("ignore")  # torch warns about pickle protocols of foreign files
            state = torch.load(file, map_location=device, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: no such checkpoint") from None
    except NotReadable as err:
        raise CheckpointError(str(err)) from None
    except OSError as err:
        raise CheckpointError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)", str(err))
        if found is None:  # bytes that are no pickle at all
            raise CheckpointError(f"{path}: not a readable checkpoint (not a PyTorch checkpoint)") from None
        raise CheckpointError(f"{path}: holds objects other than tensors and plain data (it would construct "
                              f"{found.group(1)}); cnnlab does not load such files, as loading them can run "
                              f"code") from None
    except Exception as err:  # torch.load's reader fails on foreign bytes in many ways (EOFError, KeyError ...)
        raise CheckpointError(f"{path}: not a readable checkpoint ({_damage(err)})") from None
    if not isinstance(state, dict) or not isinstance(state.get("model"), dict) or \
            not isinstance(state.get("epoch"), int):
        raise CheckpointError(f"{path}: not a cnnlab checkpoint (expected a mapping with model weights and an "
                              f"epoch)")
    if isinstance(version := state.get("format"), int) and version > FORMAT:
        raise CheckpointError(f"{path}: written by a newer cnnlab (checkpoint format {version}; this one reads "
                              f"{FORMAT}): upgrade cnnlab")
    return state


def _damage(err: Exception) -> str:
    if isinstance(err, EOFError) or not str(err):
        return "empty or cut short"
    if "zip archive" in str(err) or "central directory" in str(err):
        return "truncated or damaged"
    return "not a PyTorch checkpoint"


def load_weights(model: torch.nn.Module, state: dict[str, Any], path: Path) -> None:
    """Put a checkpoint's weights into `model`; CheckpointError when they do not fit it."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError) as err:
        lines = [line.strip() for line in str(err).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else type(err).__name__)
        raise CheckpointError(f"{path}: its weights do not fit this run's model ({detail.rstrip('.')})") from None


# --------------------------------------------------------------------------- random states


def random_states(shuffle: torch.Generator, augment: torch.Generator | None) -> dict[str, Any]:
    """Every random state a run draws from, as tensors and plain data."""
    _, keys, position, has_gauss, gauss = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "python": random.getstate(),
        "numpy": [keys.tolist(), int(position), int(has_gauss), float(gauss)],
        "shuffle": shuffle.get_state(),
        "augment": augment.get_state() if augment is not None else None,
    }


def restore_random_states(states: dict[str, Any], shuffle: torch.Generator, augment: torch.Generator | None) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    random.setstate(_tuples(states["python"]))
    keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state(("MT19937", np.array(keys, dtype=np.uint32), position, has_gauss, gauss))
    shuffle.set_state(states["shuffle"])
    if augment is not None and states["augment"] is not None:
        augment.set_state(states["augment"])


def _tuples(value: Any) -> Any:
    """random.setstate wants the nested tuples getstate gave (a round trip may have made lists)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
