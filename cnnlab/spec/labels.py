"""How a swept or `--set` value reads in a header and in a run id: short, and the same in both.

    relu                    a scalar, as written
    normal(std=0.01)        a registry choice with options
    [256,128]               a list of numbers or names
    #2[16,32]               a list of layers: its position in the sweep (from 0) and its channels
                            (`#3[32x8]`: eight layers of 32), since two layer lists may share them
Keys read by their shortest unique tail: `activation=relu`, `conv[0].stride=2`.
"""

from __future__ import annotations

from typing import Any

from cnnlab.util.text import key_labels

SHORT = 24  # a container longer than this as text reads by its position in the sweep instead


def _text(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return {True: "true", False: "false", None: "null"}[value]
    if isinstance(value, float):
        return format(value, "g")
    if isinstance(value, dict):
        if isinstance(value.get("name"), str):
            options = ",".join(f"{k}={_text(v)}" for k, v in value.items() if k != "name")
            return f"{value['name']}({options})" if options else value["name"]
        return "{" + ",".join(f"{k}={_text(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)


def _channels(layers: list[dict]) -> str:
    """'16,32' for two layers; '32x8' for eight layers of 32 channels."""
    counts = [str(layer.get("out_channels", "?")) for layer in layers]
    if len(counts) > 2 and len(set(counts)) == 1:
        return f"{counts[0]}x{len(counts)}"
    return ",".join(counts)


def value_label(value: Any, index: int | None = None) -> str:
    """How one value reads (see the module docstring); `index` is its position among the sweep's
    values (None for a `--set` value)."""
    where = f"#{index}" if index is not None else ""
    if isinstance(value, list) and value and all(isinstance(v, dict) and "out_channels" in v for v in value):
        return f"{where}[{_channels(value)}]"
    text = _text(value)
    if isinstance(value, (list, dict)) and len(text) > SHORT and where:
        return where
    return text


def labels(values: dict[str, Any], indices: dict[str, int] | None = None) -> dict[str, str]:
    """`key=value` as each of `values` reads: dotted key → 'activation=relu'."""
    short = key_labels(values)
    return {key: f"{short[key]}={value_label(value, (indices or {}).get(key))}" for key, value in values.items()}
