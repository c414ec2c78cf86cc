"""Spec errors as one line: the key path, what is wrong, and for a misspelt key the closest valid one."""

from __future__ import annotations

import re
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from cnnlab.errors import CnnlabError
from cnnlab.registry import did_you_mean
from cnnlab.spec.schema import Spec
from cnnlab.spec.types import Section
from cnnlab.util.text import short_repr


class SpecError(CnnlabError):
    """A spec that cannot be used; the message names the key path and what was expected."""


def format_key(path: list[str | int] | tuple[str | int, ...]) -> str:
    """['model', 'conv', 1, 'stride'] → `model.conv[1].stride`; a key that is not a plain name shows
    as itself, quoted: `model['fc\n']`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not re.fullmatch(r"[A-Za-z_][\w.\[\]-]*", str(part), re.ASCII):  # dotted sweep keys are plain too
            out += f"[{short_repr(part)}]"
        else:
            out += f".{part}" if out else part
    return out


def format_validation_error(err: ValidationError) -> str:
    """The first pydantic error as `key.path: what is wrong`, plus a count of the others."""
    errors = err.errors(include_url=False)
    first = _most_specific(errors)
    loc = _key_path(first)
    key = format_key(loc)
    if first["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        hint = did_you_mean(str(loc[-1]), valid)
        message = f"unknown key{hint}" + (f"; valid keys here: {', '.join(valid)}" if valid and not hint else "")
    else:
        message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if first["type"] not in ("value_error", "assertion_error") and "input" in first:
            message += f", got {short_repr(first['input'])}"
        named, sep, rest = message.partition(": ")  # a section check naming one of its keys (or a path below)
        path = [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"[A-Za-z_]\w*|\[\d+\]", named)]
        if sep and path and path[0] in _fields_at(loc) and format_key(path) == named:
            key, message = format_key([*loc, *path]), rest
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{key or 'spec'}: {message}{more}"


_BRANCH = re.compile(r"[a-z][a-z-]*\[.*\]", re.DOTALL)  # function-after[...], literal['none','dataset'] ...
_SECTION_NAMES = frozenset(cls.__name__ for cls in Section.__subclasses__())


def _is_pydantic_branch(part: str) -> bool:
    """Union/validator branch labels pydantic puts into error locations (`function-after[...]`, the
    class name of a section in a union: `NormalizeStats`)."""
    return bool(_BRANCH.fullmatch(part)) or part.startswith(("function-", "is-instance")) or \
        part in _SECTION_NAMES or part in ("str", "int", "float", "bool", "list", "tuple", "dict", "none")


def _key_path(error: dict) -> list[str | int]:
    """The error's location as spec keys; an unknown key itself is kept whatever it looks like."""
    loc = error["loc"]
    own_key = len(loc) - 1 if error["type"] == "extra_forbidden" else None
    return [p for i, p in enumerate(loc) if i == own_key or not (isinstance(p, str) and _is_pydantic_branch(p))]


def _most_specific(errors: list[dict]) -> dict:
    """The first error, or, when it is one branch of a union (`normalize: dataset | {mean, std}`), the
    branch that got furthest into the value: its problem is the one the user meant to fix."""
    first = _key_path(errors[0])
    same_key = [e for e in errors if _key_path(e)[:len(first)] == first]
    return max(same_key, key=lambda e: len(_key_path(e)))


def _fields_at(loc: list[str | int]) -> list[str]:
    """Valid keys of the section at `loc` (for did-you-mean)."""
    model: Any = Spec
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _section_type(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def _section_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation) if get_origin(annotation) is not None else ():
        found = _section_type(arg)
        if found is not None:
            return found
    return None
