"""Name → implementation tables: the single place where an option is added.

An entry is a plain function. Its positional-only parameters are the context cnnlab supplies
(a tensor to initialize, a channel count ...); its keyword-only parameters are the options a user
may set in the spec, each with a default and a type annotation (a keyword-only dataclass is such a
function too: its fields are the options, where other code shares them). So

    @ACTIVATIONS.register("leaky_relu", "max(x, a·x)")
    def leaky_relu(*, negative_slope: float = 0.01): ...

makes `activation: leaky_relu` and `activation: {name: leaky_relu, negative_slope: 0.2}` valid in a
spec, lists it in error messages and `--help`, and puts it in the parametrized tests.

The tables live with their implementations (models/, data/, train/); `registry(kind)` finds one by
its kind, so torch-free code such as the spec validator names a table without importing a
torch-side package at module level. The table modules themselves never import torch at import time.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cnnlab.util.text import short_repr


class RegistryError(ValueError):
    """A name or option that no registry entry accepts; the message is meant for the user."""


def did_you_mean(word: str, choices: typing.Iterable[str]) -> str:
    """' (did you mean "x"?)' for the closest choice, case aside (ReLU: "relu"), or '' when nothing is
    close. Names are matched exactly elsewhere: a name has one spelling in specs, run ids and files."""
    spelled: dict[str, str] = {}
    for choice in choices:
        spelled.setdefault(choice.lower(), choice)
    close = difflib.get_close_matches(word.lower(), list(spelled), n=1, cutoff=0.6)
    return f' (did you mean "{spelled[close[0]]}"?)' if close else ""


@dataclass(frozen=True)
class Option:
    """One user-settable keyword of a registry entry."""

    name: str
    default: Any
    annotation: Any


@dataclass(frozen=True)
class Entry:
    name: str
    fn: Callable[..., Any]
    help: str
    check: Callable[[dict[str, Any]], str | None] | None = None  # a rule between options: the problem, or None

    @property
    def options(self) -> dict[str, Option]:
        hints = typing.get_type_hints(self.fn, include_extras=True)  # keep the ranges (cnnlab.constraints)
        return {
            p.name: Option(p.name, p.default, hints.get(p.name, Any))
            for p in inspect.signature(self.fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY
        }


class Registry:
    """A named table of entries with strict, helpful lookup."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, help: str = "",
                 check: Callable[[dict[str, Any]], str | None] | None = None) -> Callable[[Callable], Callable]:
        """Add `fn` as entry `name`. Each option's range is on its annotation (cnnlab.constraints);
        `check` states a rule between options (`low <= high`) on the resolved options."""

        def add(fn: Callable) -> Callable:
            if name in self._entries:
                raise KeyError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(name, fn, help or (fn.__doc__ or "").strip().split("\n")[0], check)
            return fn

        return add

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise RegistryError(
                f"unknown {self.kind} {short_repr(name)}{did_you_mean(name, self._entries)}; "
                f"choose one of: {', '.join(self._entries)}"
            ) from None

    def validate_options(self, name: str, options: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce user options for entry `name`; return them with defaults filled in.
        Floats must be finite: .nan and .inf are refused for every option."""
        from pydantic import ValidationError

        entry = self.entry(name)
        known = entry.options
        resolved = {}
        for key, value in options.items():
            if key not in known:
                valid = ", ".join(known) or "none"
                raise RegistryError(
                    f"{self.kind} {name!r} has no option {short_repr(key)}{did_you_mean(str(key), known)}; "
                    f"its options are: {valid}"
                )
            try:
                resolved[key] = _adapter(known[key].annotation).validate_python(value, strict=False)
            except ValidationError as err:
                reason = err.errors()[0]["msg"]
                raise RegistryError(f"{self.kind} {name!r} option {key!r}: {reason}, got {short_repr(value)}") from None
        for key, opt in known.items():
            resolved.setdefault(key, opt.default)
        problem = entry.check(resolved) if entry.check else None
        if problem:
            raise RegistryError(f"{self.kind} {name!r}: {problem}")
        return resolved

    def build(self, name: str, *context: Any, **options: Any) -> Any:
        """Call entry `name` with cnnlab's context arguments and the user's (validated) options."""
        return self.entry(name).fn(*context, **options)


def options_help(kinds: typing.Iterable[str]) -> list[str]:
    """One line per entry with options, ranges included: `optimizer sgd: lr float > 0 (0.05), ...`
    (for --help; the same annotations the validator enforces)."""
    from cnnlab.constraints import describe

    lines = []
    for kind in kinds:
        table = registry(kind)
        for name in table:
            options = table.entry(name).options.values()
            if options:
                shown = ", ".join(f"{o.name} {describe(o.annotation)} ({_value(o.default)})" for o in options)
                lines.append(f"{kind} {name}: {shown}")
    return lines


def _value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@functools.cache
def _adapter(annotation: Any) -> Any:
    """pydantic's validator for one option type (built once: building costs more than validating)."""
    from pydantic import ConfigDict, TypeAdapter

    return TypeAdapter(annotation, config=ConfigDict(allow_inf_nan=False))


# kind → "module:attribute" of every registry: the list of what a spec can name.
LOCATIONS = {
    "activation": "cnnlab.models.activations:ACTIVATIONS",
    "init": "cnnlab.models.inits:INITS",
    "norm": "cnnlab.models.norms:NORMS",
    "pool": "cnnlab.models.pooling:POOLS",
    "preset": "cnnlab.models.presets:PRESETS",
    "dataset": "cnnlab.data.catalog:DATASETS",
    "augmentation": "cnnlab.data.augment:AUGMENTATIONS",
    "optimizer": "cnnlab.train.optim:OPTIMIZERS",
    "scheduler": "cnnlab.train.optim:SCHEDULERS",
    "head": "cnnlab.train.heads:HEADS",
    "precision": "cnnlab.train.precision:PRECISIONS",
}


def registry(kind: str) -> Registry:
    """The registry of `kind` (a key of LOCATIONS), imported on first use."""
    module, _, attribute = LOCATIONS[kind].partition(":")
    return getattr(importlib.import_module(module), attribute)
