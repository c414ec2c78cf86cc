"""Reading a spec file: YAML → mapping → `--set` overrides → a validated Spec."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from cnnlab.spec.errors import SpecError
from cnnlab.spec.labels import labels
from cnnlab.spec.overrides import apply_override, parse_override
from cnnlab.spec.resolve import resolve
from cnnlab.spec.schema import EXPERIMENT_KEYS, Spec
from cnnlab.util.yamlio import YamlError, load_yaml


def _closest_file(path: Path) -> str:
    """' (did you mean "experiments/quickstart.yaml"?)': the file beside `path` whose name is closest."""
    try:
        names = [entry.name for entry in path.parent.iterdir() if entry.is_file()]
    except OSError:  # no such folder either
        return ""
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f' (did you mean "{path.parent / close[0]}"?)' if close else ""


def read_yaml(path: Path) -> dict[str, Any]:
    """The spec file as a mapping; any reading problem becomes one SpecError line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file{_closest_file(path)}") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, expected a YAML spec file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot be read ({err})") from None
    try:
        data = load_yaml(text)
    except YamlError as err:
        raise SpecError(f"{path}: {err}") from None
    if data is None:
        raise SpecError(f"{path}: the file is empty; see experiments/quickstart.yaml for an example")
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name:, data:, model:, train: ...), "
                        f"got {type(data).__name__}")
    return data


def load_spec(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Read, override (`key.path=value`) and validate an experiment spec."""
    raw = read_yaml(Path(path))
    configuring = {}
    for item in overrides:
        key, value = parse_override(item)
        raw = apply_override(raw, key, value)
        if key.partition(".")[0].partition("[")[0] not in NOT_CONFIGURING:
            configuring[key] = value
    spec = resolve(raw)
    spec._set_labels = labels({k: v for k, v in configuring.items() if k not in spec.sweep})
    return spec


# --set keys that choose which runs there are or where they go, not how one trains: not in run ids.
NOT_CONFIGURING = frozenset({"name", "seed", *EXPERIMENT_KEYS})
