"""The ranges of registry options, written once on the keyword itself:

    def sgd(params, /, *, lr: Positive = 0.05, momentum: Momentum = 0.9): ...

pydantic enforces them when a spec is validated (the error names the key and the bound), `describe`
writes them for `--help`, and the tests iterate them. Every float option is finite: the validator
refuses .nan and .inf for all of them (cnnlab.registry).

Torch-free and pydantic-free (annotated_types is the small package pydantic reads constraints from),
so the registries that use these stay cheap to import.
"""

from __future__ import annotations

from typing import Annotated, Any, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt

Positive = Annotated[float, Gt(0)]  # a rate, a scale, an epsilon
NonNegative = Annotated[float, Ge(0)]  # a decay, a floor, a standard deviation
Momentum = Annotated[float, Ge(0), Lt(1)]  # a running-average coefficient: 1 would never forget
Probability = Annotated[float, Ge(0), Le(1)]
OpenFraction = Annotated[float, Gt(0), Lt(1)]
Count = Annotated[int, Ge(1)]  # a number of things: at least one
NonNegativeCount = Annotated[int, Ge(0)]

_SYMBOLS = {Gt: ">", Ge: ">=", Lt: "<", Le: "<="}


def describe(annotation: Any) -> str:
    """`float > 0`, `float in [0, 1)`, `int >= 1`, `bool`, `fan_in | fan_out`: an option's type and range."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        bounds = {type(m): f"{getattr(m, next(iter(m.__dataclass_fields__))):g}" for m in metadata
                  if type(m) in _SYMBOLS}
        low = next(((k, v) for k, v in bounds.items() if k in (Gt, Ge)), None)
        high = next(((k, v) for k, v in bounds.items() if k in (Lt, Le)), None)
        name = describe(base)
        if low and high:
            return f"{name} in {'(' if low[0] is Gt else '['}{low[1]}, {high[1]}{')' if high[0] is Lt else ']'}"
        if low or high:
            kind, value = low or high
            return f"{name} {_SYMBOLS[kind]} {value}"
        return name
    if get_origin(annotation) is not None and all(isinstance(a, str) for a in get_args(annotation)):  # Literal
        return " | ".join(get_args(annotation))
    return getattr(annotation, "__name__", str(annotation))
