"""Reading a spec file: YAML → mapping → `--set` overrides → a validated Spec."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from cnnlab.registry import did_you_mean
from cnnlab.spec.errors import SpecError
from cnnlab.spec.experiment import Experiment
from cnnlab.spec.schema import Spec
from cnnlab.util.reading import SPEC_BYTES, NotReadable, read_bounded
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
        text = read_bounded(path, SPEC_BYTES, "spec").decode("utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file{_closest_file(path)}") from None
    except (IsADirectoryError, NotReadable) as err:
        if path.is_dir():
            raise SpecError(f"{path}: is a directory, expected a YAML spec file") from None
        raise SpecError(str(err)) from None
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not UTF-8 text (byte {err.start + 1} is not), expected a YAML spec file") from None
    except OSError as err:
        raise SpecError(f"{path}: cannot be read ({err.strerror or type(err).__name__})") from None
    try:
        data = load_yaml(text)
    except YamlError as err:
        raise SpecError(f"{path}: {err}") from None
    if data is None:
        raise SpecError(f"{path}: the file is empty; see experiments/quickstart.yaml for an example")
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name:, data:, model:, train: ...), "
                        f"got {type(data).__name__}")
    if data and not any(isinstance(key, str) and (key in SPEC_KEYS or did_you_mean(key, SPEC_KEYS)) for key in data):
        # not a spec at all (/etc/passwd parses as a mapping too): say where, but not what the file holds
        line, column = _first_key(text)
        raise SpecError(f"{path}: not an experiment spec: none of its top-level keys (the first at line {line}, "
                        f"column {column}) is a spec key ({', '.join(SPEC_KEYS)})")
    return data


SPEC_KEYS = tuple(Spec.model_fields)


def _first_key(text: str) -> tuple[int, int]:
    """Line and column (from 1) of the first line of `text` that holds YAML content."""
    for number, line in enumerate(text.splitlines(), 1):
        content = line.lstrip()
        if content and not content.startswith(("#", "---", "%")):
            return number, len(line) - len(content) + 1
    return 1, 1


def load_experiment(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Experiment:
    """Read an experiment spec, apply its `--set key.path=value` overrides and validate it."""
    return Experiment.of(read_yaml(Path(path)), overrides)


def load_spec(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """The validated spec of a file (with overrides), without what its runs are made from."""
    return load_experiment(path, overrides).spec
