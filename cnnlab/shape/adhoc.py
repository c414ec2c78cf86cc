"""Layers written on the command line: `cnnlab shape --input 1x32x32 conv:6,k5 pool:max,k2 ...`.

Each argument is KIND or KIND:ARG,ARG,... . Sizes are a number or HxW (height×width); channel and
feature counts flowing in are taken from the layer before, so only what a layer adds is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.registry import RegistryError, did_you_mean, registry
from cnnlab.shape.layers import (
    Activation,
    Conv,
    ConvTranspose,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    Linear,
    Norm,
    Plan,
    Pool,
    Shape,
    ShapeError,
    Subsample,
    frozen,
)
from cnnlab.shape.rules import output_shape


class LayerSyntaxError(CnnlabError):
    """A layer string or input shape that does not follow the documented syntax."""


@dataclass(frozen=True)
class LayerKind:
    """One KIND of the syntax: how it is written, an example, and how to build it."""

    usage: str
    example: str
    build: Callable[[list[str], Shape], Layer]  # (the ARGs after "KIND:", the shape flowing in)
    name: str  # prefix of the plan names: conv1, conv2, pool1 ...


# ---------------------------------------------------------------- argument pieces

_OPTION = re.compile(r"^(op|k|s|p|d|g)(\d+(?:x\d+)?)$")
_PADDINGS = {"p", "psame", "pvalid"}


def _pair(text: str) -> tuple[int, int]:
    h, _, w = text.partition("x")
    return (int(h), int(w or h))


def _options(args: list[str], allowed: tuple[str, ...], flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """'k3', 's2x1', 'p1', 'd2', 'op1' → pairs; 'g4' → an int; flags ('ceil', 'psame' ...) → True."""
    found: dict[str, Any] = {}
    for arg in args:
        match = _OPTION.match(arg)
        if arg in flags:
            key, value = arg, True
        elif match and match.group(1) in allowed:
            key, text = match.groups()
            value = _count(text, "groups gG") if key == "g" else _pair(text)
        else:
            raise LayerSyntaxError(f"unknown option {arg!r}")
        if key in found or (key in _PADDINGS and found.keys() & _PADDINGS):
            raise LayerSyntaxError(f"option {arg!r} repeats an option given before")
        found[key] = value
    return found


def _count(text: str, what: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise LayerSyntaxError(f"{what} must be a whole number >= 1, got {text!r}")
    return int(text)


def _first(args: list[str], what: str) -> tuple[str, list[str]]:
    if not args:
        raise LayerSyntaxError(f"missing {what}")
    return args[0], args[1:]


def _kernel(options: dict[str, Any]) -> tuple[int, int]:
    if "k" not in options:
        raise LayerSyntaxError("missing the kernel size kK")
    return options["k"]


def _registry_choice(kind: str, args: list[str], what: str, exclude: tuple[str, ...] = ()):
    """NAME[,key=value...] checked against the `kind` registry: (name, frozen options)."""
    name, rest = _first(args, what)
    if name in exclude:
        raise LayerSyntaxError(f"{what} {name!r} adds no layer; leave it out")
    options = {}
    for item in rest:
        key, sep, value = item.partition("=")
        if not sep:
            raise LayerSyntaxError(f"expected key=value, got {item!r}")
        options[key] = value
    try:
        return name, frozen(registry(kind).validate_options(name, options))
    except RegistryError as err:
        raise LayerSyntaxError(str(err)) from None


# ---------------------------------------------------------------- the kinds


def _conv(args: list[str], shape: Shape) -> Conv:
    out, rest = _first(args, "the output channel count OUT")
    o = _options(rest, ("k", "s", "p", "d", "g"), flags=("psame", "pvalid", "nobias"))
    padding = "same" if "psame" in o else "valid" if "pvalid" in o else o.get("p", (0, 0))
    return Conv(
        shape[0], _count(out, "OUT"), _kernel(o), o.get("s", (1, 1)), padding, o.get("d", (1, 1)),
        o.get("g", 1), bias="nobias" not in o,
    )


def _conv_transpose(args: list[str], shape: Shape) -> ConvTranspose:
    out, rest = _first(args, "the output channel count OUT")
    o = _options(rest, ("k", "s", "p", "op", "d", "g"), flags=("nobias",))
    return ConvTranspose(
        shape[0], _count(out, "OUT"), _kernel(o), o.get("s", (1, 1)), o.get("p", (0, 0)), o.get("op", (0, 0)),
        o.get("d", (1, 1)), o.get("g", 1), bias="nobias" not in o,
    )


def _pool(args: list[str], shape: Shape) -> Pool | Subsample:
    kind, rest = _first(args, "the pooling kind max, avg or subsample")
    if kind not in ("max", "avg", "subsample"):
        raise LayerSyntaxError(f"pooling kind must be max, avg or subsample, got {kind!r}")
    o = _options(rest, ("k", "s", "p") if kind == "subsample" else ("k", "s", "p", "d"), flags=("ceil",))
    kernel = _kernel(o)
    # PyTorch's default stride for pooling is the kernel size.
    if kind == "subsample":
        return Subsample(shape[0], kernel, o.get("s", kernel), o.get("p", (0, 0)), "ceil" in o)
    return Pool(kind, kernel, o.get("s", kernel), o.get("p", (0, 0)), o.get("d", (1, 1)), "ceil" in o)


def _linear(args: list[str], shape: Shape) -> Linear:
    out, rest = _first(args, "the output feature count N")
    o = _options(rest, (), flags=("nobias",))
    return Linear(shape[0], _count(out, "N"), bias="nobias" not in o)


def _norm(args: list[str], shape: Shape) -> Norm:
    """A norm over the channels flowing in; whether it fits them is the shape rules' call."""
    name, options = _registry_choice("norm", args, "norm kind", exclude=("none",))
    return Norm(name, shape[0], options, spatial=len(shape) == 3)


def _activation(args: list[str], shape: Shape) -> Activation:
    return Activation(*_registry_choice("activation", args, "activation name"))


def _dropout(args: list[str], shape: Shape) -> Dropout:
    p, _ = _first(args, "the probability P")
    try:
        value = float(p)
    except ValueError:
        value = -1.0
    if not 0 <= value < 1:
        raise LayerSyntaxError(f"dropout probability must be a number in [0, 1), got {p!r}")
    return Dropout(value)


def _no_arguments(layer: Layer) -> Callable[[list[str], Shape], Layer]:
    def build(args: list[str], shape: Shape) -> Layer:
        if args:
            raise LayerSyntaxError("takes no arguments")
        return layer

    return build


KINDS: dict[str, LayerKind] = {
    "conv": LayerKind("conv:OUT,kK[,sS][,pP|psame|pvalid][,dD][,gG][,nobias]", "conv:16,k3,s1,p1", _conv,
                      "conv"),
    "convt": LayerKind("convt:OUT,kK[,sS][,pP][,opP][,dD][,gG][,nobias]", "convt:8,k2,s2", _conv_transpose,
                       "convt"),
    "pool": LayerKind("pool:max|avg|subsample,kK[,sS][,pP][,dD][,ceil]  (stride defaults to K)", "pool:max,k2", _pool,
                      "pool"),
    "gap": LayerKind("gap", "gap", _no_arguments(GlobalAvgPool()), "gap"),
    "flatten": LayerKind("flatten", "flatten", _no_arguments(Flatten()), "flatten"),
    "fc": LayerKind("fc:N[,nobias]", "fc:120", _linear, "fc"),
    "linear": LayerKind("linear:N[,nobias]", "linear:10", _linear, "fc"),
    "norm": LayerKind("norm:KIND[,key=value...]", "norm:group,num_groups=4", _norm, "norm"),
    "bn": LayerKind("bn", "bn", lambda args, shape: _norm(["batch", *args], shape), "norm"),
    "act": LayerKind("act:NAME[,key=value...]", "act:leaky_relu,negative_slope=0.2", _activation, "act"),
    "dropout": LayerKind("dropout:P", "dropout:0.5", _dropout, "drop"),
}
"""The layer syntax, one entry per KIND; `--help` and error messages list it from here."""


# ---------------------------------------------------------------- a layer written back in the syntax


def _size(value: tuple[int, int]) -> str:
    return str(value[0]) if value[0] == value[1] else f"{value[0]}x{value[1]}"


def _written(options: list[tuple[str, tuple[int, int], tuple[int, int]]]) -> str:
    """`,kK,sS ...` for the (letter, value, default) options whose value is not the default."""
    return "".join(f",{letter}{_size(value)}" for letter, value, default in options if value != default)


def _conv_syntax(layer: Conv) -> str:
    padding = f",p{layer.padding}" if isinstance(layer.padding, str) else _written([("p", layer.padding, (0, 0))])
    options = _written([("k", layer.kernel_size, (0, 0)), ("s", layer.stride, (1, 1))]) + padding
    options += _written([("d", layer.dilation, (1, 1))]) + (f",g{layer.groups}" if layer.groups != 1 else "")
    return f"conv:{layer.out_channels}{options}{'' if layer.bias else ',nobias'}"


def _conv_transpose_syntax(layer: ConvTranspose) -> str:
    options = _written([("k", layer.kernel_size, (0, 0)), ("s", layer.stride, (1, 1)), ("p", layer.padding, (0, 0)),
                        ("op", layer.output_padding, (0, 0)), ("d", layer.dilation, (1, 1))])
    options += f",g{layer.groups}" if layer.groups != 1 else ""
    return f"convt:{layer.out_channels}{options}{'' if layer.bias else ',nobias'}"


def _pool_syntax(layer: Pool) -> str:
    options = _written([("k", layer.kernel_size, (0, 0)), ("s", layer.stride, layer.kernel_size),
                        ("p", layer.padding, (0, 0)), ("d", layer.dilation, (1, 1))])
    return f"pool:{layer.kind}{options}{',ceil' if layer.ceil_mode else ''}"


def _choice_syntax(kind: str, prefix: str, name: str, options: tuple) -> str:
    """`act:leaky_relu,negative_slope=0.2`: the options that differ from the registry's defaults."""
    defaults = registry(kind).entry(name).options
    return ",".join([f"{prefix}:{name}", *(f"{k}={v}" for k, v in options
                                           if k not in defaults or defaults[k].default != v)])


def _norm_syntax(layer: Norm) -> str | None:
    if not layer.affine:
        return None  # the syntax has no way to say it
    written = _choice_syntax("norm", "norm", layer.kind, layer.options)
    return "bn" if written == "norm:batch" else written


SYNTAX: dict[type, Callable[[Any], str | None]] = {
    Conv: _conv_syntax,
    ConvTranspose: _conv_transpose_syntax,
    Pool: _pool_syntax,
    GlobalAvgPool: lambda layer: "gap",
    Flatten: lambda layer: "flatten",
    Linear: lambda layer: f"fc:{layer.out_features}{'' if layer.bias else ',nobias'}",
    Norm: _norm_syntax,
    Activation: lambda layer: _choice_syntax("activation", "act", layer.kind, layer.options),
    Dropout: lambda layer: f"dropout:{layer.p!r}",
}


def layer_syntax(layer: Layer) -> str | None:
    """`layer` written in the syntax above ('conv:16,k3,psame', 'pool:max,k2'), which parses back to
    the same layer for the input it had; None for a layer the syntax cannot write."""
    write = SYNTAX.get(type(layer))
    return write(layer) if write else None


# ---------------------------------------------------------------- whole arguments


def parse_input_shape(text: str) -> Shape:
    """'3x32x32' → (3, 32, 32); '784' → (784,)."""
    parts = re.split(r"[x×]", text.strip().lower())
    if len(parts) not in (1, 3) or not all(p.isdigit() for p in parts):
        raise LayerSyntaxError(
            f"--input must be C×H×W like 3x32x32 (or F like 784 for a flat input), got {text!r}"
        )
    shape = tuple(int(p) for p in parts)
    if min(shape) < 1:
        raise LayerSyntaxError(f"--input sizes must be >= 1, got {text!r}")
    return shape


def _kind(text: str) -> LayerKind:
    name = text.partition(":")[0].strip().lower()
    if name not in KINDS:
        raise LayerSyntaxError(
            f"unknown layer kind {name!r} in {text!r}{did_you_mean(name, KINDS)}; kinds: {', '.join(KINDS)}"
        )
    return KINDS[name]


def parse_layer(text: str, shape: Shape) -> Layer:
    """One layer string, for an input of `shape`."""
    kind, rest = _kind(text), text.partition(":")[2]
    args = [a.strip() for a in rest.split(",")] if rest else []
    try:
        return kind.build(args, shape)
    except LayerSyntaxError as err:
        raise LayerSyntaxError(f"layer {text!r}: {err}; write {kind.usage}, e.g. {kind.example}") from None


def parse_layers(texts: list[str], input_shape: Shape) -> Plan:
    """Layer strings → a plan named conv1, pool1, fc1 ...; ShapeError at the first layer that cannot fit."""
    plan: Plan = []
    counts: dict[str, int] = {}
    shape = input_shape
    for text in texts:
        layer, prefix = parse_layer(text, shape), _kind(text).name
        counts[prefix] = counts.get(prefix, 0) + 1
        name = f"{prefix}{counts[prefix]}"
        try:
            shape = output_shape(layer, shape)
        except ShapeError as err:
            raise ShapeError(f"layer {name} ({text}): {err}") from None
        plan.append((name, layer))
    return plan
