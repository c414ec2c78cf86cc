"""`--set key.path=value`: key paths into a raw spec, values read as YAML, applied before validation."""

from __future__ import annotations

import copy
import re
from typing import Any

from cnnlab.spec.errors import SpecError, format_key
from cnnlab.spec.resolve import resolve
from cnnlab.util.text import short_repr
from cnnlab.util.yamlio import YamlError, load_yaml

_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def parse_key(key: str) -> list[str | int]:
    """`model.conv[1].stride` → ['model', 'conv', 1, 'stride']."""
    path: list[str | int] = []
    for part in key.split("."):
        match = _SEGMENT.fullmatch(part)
        if not match:
            raise SpecError(f"{short_repr(key)}: not a key path; write it like model.conv[1].stride")
        path.append(match.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return path


def parse_override(item: str) -> tuple[str, Any]:
    """`key.path=value` with the value read as a YAML scalar or flow collection (`[3, 5]`, `{a: 1}`)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {short_repr(item)}: expected KEY=VALUE, e.g. --set model.activation=tanh")
    try:
        value = load_yaml(text) if text.strip() else ""
    except YamlError as err:
        raise SpecError(f"--set {short_repr(item)}: {err.problem}") from None
    return key.strip(), value


def apply_override(raw: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """A copy of `raw` with `key` set to `value`.

    Keys may reach into values that only exist as defaults or in a preset (`model.conv[0].padding`
    when the file has no `conv`): such a branch is first filled in from the resolved spec.
    """
    path = parse_key(key)
    raw = copy.deepcopy(raw)
    node: Any = raw
    for depth, part in enumerate(path[:-1]):
        nxt = path[depth + 1]
        child = _child(node, part, path[: depth + 1])
        if child is None:  # a mapping the file leaves out, or a list only defaults/the preset hold
            child = _materialize(raw, path[: depth + 1])
            if isinstance(child, dict):  # keep the user's keys on top of a preset: only a choice's name
                child = {"name": child["name"]} if isinstance(child.get("name"), str) else {}
            _assign(node, part, child, path[: depth + 1])
        elif isinstance(child, str) and isinstance(nxt, str):  # `activation.negative_slope` on `relu`
            child = {"name": child}
            _assign(node, part, child, path[: depth + 1])
        node = child
    _assign(node, path[-1], value, path)
    return raw


def _child(node: Any, part: str | int, where: list[str | int]) -> Any:
    if isinstance(part, int):
        if not isinstance(node, list):
            raise SpecError(f"{format_key(where[:-1])}: is not a list, so [{part}] does not apply")
        if part >= len(node):
            raise SpecError(f"{format_key(where)}: index out of range (the list has {len(node)} entries)")
        return node[part]
    if not isinstance(node, dict):
        raise SpecError(f"{format_key(where[:-1])}: is not a mapping, so .{part} does not apply")
    return node.get(part)


def _assign(node: Any, part: str | int, value: Any, where: list[str | int]) -> None:
    if isinstance(part, int):
        _child(node, part, where)  # bounds and type check
    elif not isinstance(node, dict):
        raise SpecError(f"{format_key(where[:-1])}: is not a mapping, so .{part} does not apply")
    node[part] = value


def _materialize(raw: dict[str, Any], path: list[str | int]) -> Any:
    """The resolved value at `path` (defaults and preset filled in), as plain data; {} if unknown."""
    node: Any = resolve(raw).model_dump(mode="json")
    for part in path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return {}
    return copy.deepcopy(node) if node is not None else {}


