"""The value types of the spec: registry choices with their options, pairs, paddings, seeds and
the small checks they carry. Registry names are checked against their registry, looked up by kind
(cnnlab.registry), so this module imports no torch-side package.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import core_schema

from cnnlab.registry import RegistryError, registry
from cnnlab.util.text import short_repr

MAX_RUNS = 10_000  # runs one spec may make (sweep combinations × seeds)
MAX_THREADS = 1024


@dataclass(frozen=True)
class Choice:
    """A registry name with its options: `relu` or `{name: leaky_relu, negative_slope: 0.1}`.

    Written back (spec.yaml, model_dump) as the flat mapping `{name: ..., **options}`."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: Any) -> Choice:
        if isinstance(value, Choice):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            if not isinstance(value.get("name"), str):
                raise ValueError("a mapping here needs a `name` key, e.g. {name: leaky_relu, negative_slope: 0.1}")
            return cls(value["name"], {k: v for k, v in value.items() if k != "name"})
        raise ValueError(f"expected a name or a mapping with a `name` key, got {short_repr(value)}")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(cls.as_dict)
        )


def of_kind(kind: str):
    """Validator: the choice names an entry of the `kind` registry; its options are checked and completed."""

    def check(choice: Choice) -> Choice:
        try:
            return Choice(choice.name, registry(kind).validate_options(choice.name, choice.options))
        except RegistryError as err:
            raise ValueError(str(err)) from None

    return AfterValidator(check)


def _to_pair(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer or a pair [height, width], got {short_repr(value)}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return tuple(value)
    raise ValueError(f"expected an integer or a pair [height, width], got {short_repr(value)}")


def _at_least(low: int):
    def check(value: tuple[int, int]) -> tuple[int, int]:
        if min(value) < low:
            shown = value[0] if value[0] == value[1] else list(value)
            raise ValueError(f"must be >= {low}, got {shown}")
        return value

    return AfterValidator(check)


def _padding(value: Any) -> Any:
    return value if value in ("same", "valid") else _to_pair(value)


def _check_padding(value: Any) -> Any:
    if isinstance(value, tuple) and min(value) < 0:
        raise ValueError(f"must be >= 0, 'same' or 'valid', got {list(value)}")
    return value


Seed = Annotated[int, Field(strict=True, ge=0, lt=2**32)]  # what every RNG cnnlab uses accepts (numpy's legacy one)
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]
Pair = tuple[int, int]
PositivePair = Annotated[Pair, BeforeValidator(_to_pair), _at_least(1)]
NonNegativePair = Annotated[Pair, BeforeValidator(_to_pair), _at_least(0)]
Padding = Annotated[Pair | Literal["same", "valid"], BeforeValidator(_padding), AfterValidator(_check_padding)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]
Threads = Annotated[int, Field(strict=True, ge=1, le=MAX_THREADS)]


BiasInit = Annotated[Choice, of_kind("init"), AfterValidator(lambda c: _bias_scheme(c))]
PoolName = Annotated[str, AfterValidator(lambda v: registered_name("pool", v))]
PresetName = Annotated[str, AfterValidator(lambda v: registered_name("preset", v))]
HeadName = Annotated[str, AfterValidator(lambda v: registered_name("head", v))]
Precision = Annotated[str, AfterValidator(lambda v: registered_name("precision", v))]


class Section(BaseModel):
    """Strict base: unknown keys are errors; defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def registered_name(kind: str, name: str) -> str:
    try:
        registry(kind).entry(name)
    except RegistryError as err:
        raise ValueError(str(err)) from None
    return name


BIAS_INITS = ("default", "zeros", "constant", "normal", "uniform")  # the schemes defined for a vector


def _bias_scheme(choice: Choice) -> Choice:
    if choice.name not in BIAS_INITS:
        raise ValueError(f"{choice.name!r} needs a weight matrix; biases take one of: {', '.join(BIAS_INITS)}")
    return choice


def some_values(values: list[Any]) -> list[Any]:
    if not values:
        raise ValueError("an empty list makes no runs; give at least one value, or leave the key out")
    return values


Values = Annotated[list[Any], AfterValidator(some_values)]


def safe_name(name: str) -> str:
    """Experiment names become directory names: keep them to one safe path component."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name) or ".." in name:
        raise ValueError(
            f"must be letters, digits, '_', '-' or '.', starting with a letter or digit, got {short_repr(name)}"
        )
    return name
