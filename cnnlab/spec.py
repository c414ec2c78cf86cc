"""The experiment spec: schema, loading, `--set` overrides, validation and sweep expansion.

A spec is validated once, here, into typed objects; everything after trusts them. Every error a
user can make is reported as one `SpecError` line that names the key path
(`model.conv[1].stride: must be >= 1, got 0`) and, for a misspelt key, the closest valid one.

This module imports no torch: `cnnlab shape` and `cnnlab train --dry-run` stay instant.
"""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import core_schema

from cnnlab.data.augment import AUGMENTATIONS
from cnnlab.data.registry import DATASETS
from cnnlab.errors import CnnlabError
from cnnlab.models.activations import ACTIVATIONS
from cnnlab.models.inits import INITS
from cnnlab.models.norms import NORMS
from cnnlab.models.pooling import POOLS
from cnnlab.models.presets import PRESETS
from cnnlab.optim import OPTIMIZERS, SCHEDULERS
from cnnlab.registry import Registry, RegistryError, did_you_mean


class SpecError(CnnlabError):
    """A spec that cannot be used; the message names the key path and what was expected."""


# --------------------------------------------------------------------------- value types


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
        raise ValueError(f"expected a name or a mapping with a `name` key, got {value!r}")

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.options}

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse, serialization=core_schema.plain_serializer_function_ser_schema(cls.as_dict)
        )


def _in(registry: Registry):
    """Validator: the choice names an entry of `registry`; its options are checked and completed."""

    def check(choice: Choice) -> Choice:
        try:
            return Choice(choice.name, registry.validate_options(choice.name, choice.options))
        except RegistryError as err:
            raise ValueError(str(err)) from None

    return AfterValidator(check)


def _to_pair(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer or a pair [height, width], got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return tuple(value)
    raise ValueError(f"expected an integer or a pair [height, width], got {value!r}")


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


Int = Annotated[int, Field(strict=True)]
PositiveInt = Annotated[int, Field(strict=True, ge=1)]
Pair = tuple[int, int]
PositivePair = Annotated[Pair, BeforeValidator(_to_pair), _at_least(1)]
NonNegativePair = Annotated[Pair, BeforeValidator(_to_pair), _at_least(0)]
Padding = Annotated[Pair | Literal["same", "valid"], BeforeValidator(_padding), AfterValidator(_check_padding)]
Fraction = Annotated[float, Field(ge=0.0, lt=1.0)]


BiasInit = Annotated[Choice, _in(INITS), AfterValidator(lambda c: _bias_scheme(c))]
PresetName = Annotated[str, AfterValidator(lambda v: _registered(PRESETS, v))]


class Section(BaseModel):
    """Strict base: unknown keys are errors; defaults are validated too."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def _registered(registry: Registry, name: str) -> str:
    try:
        registry.entry(name)
    except RegistryError as err:
        raise ValueError(str(err)) from None
    return name


BIAS_INITS = ("default", "zeros", "constant", "normal", "uniform")  # the schemes defined for a vector


def _bias_scheme(choice: Choice) -> Choice:
    if choice.name not in BIAS_INITS:
        raise ValueError(f"{choice.name!r} needs a weight matrix; biases take one of: {', '.join(BIAS_INITS)}")
    return choice


def _safe_name(name: str) -> str:
    """Experiment names become directory names: keep them to one safe path component."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name) or ".." in name:
        raise ValueError(
            f"must be letters, digits, '_', '-' or '.', starting with a letter or digit, got {name!r}"
        )
    return name


# --------------------------------------------------------------------------- sections


class PoolSpec(Section):
    type: Annotated[str, AfterValidator(lambda v: _registered(POOLS, v))] = "max"  # max | avg
    kernel_size: PositivePair = (2, 2)  # window size
    stride: PositivePair | None = None  # null: the kernel size, as in PyTorch (filled in when resolved)
    padding: NonNegativePair = (0, 0)  # implicit padding (-inf for max, zeros for avg)
    dilation: PositivePair = (1, 1)  # spacing of the window (max pooling only)
    ceil_mode: bool = False  # round the output size up instead of down

    @model_validator(mode="after")
    def _complete(self) -> PoolSpec:
        if self.type == "avg" and self.dilation != (1, 1):
            raise ValueError("dilation: average pooling has no dilation in PyTorch; use type: max or dilation: 1")
        if self.stride is None:
            self.stride = self.kernel_size
        return self


class ConvSpec(Section):
    out_channels: PositiveInt  # output depth: the number of filters
    kernel_size: PositivePair = (3, 3)  # int or [height, width]
    stride: PositivePair = (1, 1)  # step between windows
    padding: Padding = (0, 0)  # int, [h, w], 'same' (stride 1 only) or 'valid' (= 0)
    dilation: PositivePair = (1, 1)  # spacing between kernel taps; effective size d·(k−1)+1
    groups: PositiveInt = 1  # grouped convolution; in and out channels must divide by it
    pool: PoolSpec | None = None  # pooling after this block's activation

    @model_validator(mode="after")
    def _same_needs_stride_one(self) -> ConvSpec:
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError("padding: 'same' works only with stride 1 (PyTorch's rule); give a number instead")
        return self


class ModelSpec(Section):
    preset: PresetName | None = None  # lenet5 | lenet5_classic | vgg_small | mlp ...; keys below override it
    kind: Literal["cnn", "mlp"] = "cnn"  # mlp: flatten → fully-connected layers only (conv is ignored)
    activation: Annotated[Choice, _in(ACTIVATIONS)] = "relu"  # nonlinearity after every hidden layer
    init: Annotated[Choice, _in(INITS)] = "kaiming_normal"  # weight initialization of conv and linear layers
    bias_init: BiasInit | None = None  # null: zeros (with init: default, PyTorch's own)
    norm: Annotated[Choice, _in(NORMS)] = "batch"  # normalization of conv feature maps (mlp: of hidden layers)
    norm_position: Literal["before", "after"] = "before"  # norm before or after the activation
    conv: list[ConvSpec] = [  # the conv blocks, in order: the list is the depth
        {"out_channels": 32, "kernel_size": 3, "padding": "same", "pool": {"type": "max", "kernel_size": 2}},
        {"out_channels": 64, "kernel_size": 3, "padding": "same", "pool": {"type": "max", "kernel_size": 2}},
    ]
    global_pool: bool = False  # global average pooling instead of flattening before the fc layers
    fc: list[PositiveInt] = [128]  # hidden fully-connected widths
    dropout: Fraction = 0.0  # dropout probability before every fully-connected layer
    head: Literal["softmax", "sigmoid"] = "softmax"  # softmax: C logits + cross-entropy; sigmoid: 1 logit + BCE


class NormalizeStats(Section):
    mean: list[float]  # per channel
    std: list[Annotated[float, Field(gt=0)]]  # per channel

    @model_validator(mode="after")
    def _same_length(self) -> NormalizeStats:
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}")
        return self


ClassRef = Annotated[int, Field(strict=True)] | str  # a class by index (0, 1 ...) or by name (cat)


class BinarySpec(Section):
    positive: list[ClassRef]  # the classes labelled 1; every other (kept) class is labelled 0


def _augment_list(value: Any) -> Any:
    """`augment: none` and a single step are accepted for the list."""
    if value is None or value == "none":
        return []
    return [value] if isinstance(value, (str, dict)) else value


def _buildable(choice: Choice) -> Choice:
    """The registry checks option types; building the step checks their ranges (padding >= 0 ...)."""
    AUGMENTATIONS.build(choice.name, **choice.options)
    return choice


AugmentStep = Annotated[Choice, _in(AUGMENTATIONS), AfterValidator(_buildable)]


class DataSpec(Section):
    dataset: Annotated[Choice, _in(DATASETS)] = "shapes"  # a name, or {name: shapes, image_size: 32, ...}
    root: str = "data"  # where datasets live / are downloaded to; cnnlab's caches go in root/.cnnlab-cache
    download: bool = True  # download a missing torchvision dataset
    normalize: Literal["none", "dataset"] | NormalizeStats = "dataset"  # none | dataset | {mean: [...], std: [...]}
    val_fraction: Fraction = 0.1  # share of the training split held out for validation (seeded, stratified)
    subset: PositiveInt | None = None  # use N images per split, drawn by seed (test: same for every run); null: all
    classes: list[ClassRef] | None = None  # keep only these classes (indices or names), relabelled 0..k-1 in order
    binary: BinarySpec | None = None  # one class against the rest, for head: sigmoid; e.g. {positive: [cat]}
    resize: PositivePair | None = None  # resize every image once at load (bilinear): int or [height, width]
    pad: Annotated[int, Field(strict=True, ge=0)] = 0  # zero padding around every image (28×28 + 2 → 32×32)
    augment: Annotated[list[AugmentStep], BeforeValidator(_augment_list)] = []  # training batches: random_crop, hflip


class TrainSpec(Section):
    epochs: PositiveInt = 10  # passes over the training split
    batch_size: PositiveInt = 128  # images per optimizer step
    optimizer: Annotated[Choice, _in(OPTIMIZERS)] = "sgd"  # sgd | adam | adamw | rmsprop, with options
    scheduler: Annotated[Choice, _in(SCHEDULERS)] = "cosine"  # none | step | cosine | onecycle, stepped per batch
    monitor: Literal["val_acc", "val_loss"] = "val_acc"  # metric that picks best.pt and drives early stopping
    patience: PositiveInt | None = None  # stop after this many epochs without improvement; null: never
    min_delta: Annotated[float, Field(ge=0)] = 0.0  # smallest change that counts as an improvement
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: PositiveInt | None = None  # CPU threads for torch; null: torch's default (the physical cores)
    channels_last: bool = True  # NHWC memory layout for conv nets (faster on CPU and on tensor cores)

    @model_validator(mode="after")
    def _device_syntax(self) -> TrainSpec:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise ValueError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {self.device!r}")
        return self


class Spec(Section):
    name: Annotated[str, AfterValidator(lambda v: _safe_name(v))] = "experiment"  # runs go to runs/<name>/
    seed: Int = 0  # seeds data split, init, shuffling and augmentation
    data: DataSpec = Field(default_factory=DataSpec)  # what to train on
    model: ModelSpec = Field(default_factory=ModelSpec)  # the network
    train: TrainSpec = Field(default_factory=TrainSpec)  # how to train it
    sweep: dict[str, list[Any]] = {}  # dotted key → values; every combination becomes one run
    seeds: list[Int] | None = None  # repeat every combination once per seed

    _swept: dict[str, Any] = PrivateAttr(default_factory=dict)
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)  # as written + overrides, for sweeps

    @property
    def swept(self) -> dict[str, Any]:
        """The sweep values (dotted key → value) that made this run from its experiment."""
        return self._swept

    def resolved(self) -> dict[str, Any]:
        """The fully resolved spec of one run as plain data (what spec.yaml holds)."""
        return self.model_dump(mode="json", exclude={"sweep", "seeds"})


# --------------------------------------------------------------------------- loading


def read_yaml(path: Path) -> dict[str, Any]:
    """The spec file as a mapping; any reading problem becomes one SpecError line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SpecError(f"{path}: is a directory, expected a YAML spec file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot be read ({err})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.constructor.ConstructorError as err:
        raise SpecError(f"{path}: unsupported YAML tag {err.problem_mark and err.problem.split()[-1]} "
                        f"(line {err.problem_mark.line + 1}); specs hold plain data only") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if data is None:
        raise SpecError(f"{path}: the file is empty; see experiments/quickstart.yaml for an example")
    if not isinstance(data, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name:, data:, model:, train: ...), "
                        f"got {type(data).__name__}")
    return data


def load_spec(path: Path, overrides: list[str] | tuple[str, ...] = ()) -> Spec:
    """Read, override (`key.path=value`) and validate an experiment spec."""
    raw = read_yaml(Path(path))
    for item in overrides:
        key, value = parse_override(item)
        raw = apply_override(raw, key, value)
    return resolve(raw)


def resolve(raw: dict[str, Any]) -> Spec:
    """Validate a raw spec mapping: preset values under the model's own keys, defaults filled."""
    try:
        spec = Spec.model_validate(_merge_preset(raw))
    except ValidationError as err:
        raise SpecError(format_validation_error(err)) from None
    spec._raw = copy.deepcopy(raw)
    return spec


def _merge_preset(raw: dict[str, Any]) -> dict[str, Any]:
    """The model section with the preset's keys filled in under the user's (an unknown preset is
    left for validation to report with its key path)."""
    model = raw.get("model")
    preset = model.get("preset") if isinstance(model, dict) else None
    if not isinstance(preset, str) or preset not in PRESETS:
        return raw
    return {**raw, "model": {**PRESETS.build(preset), **model}}


# --------------------------------------------------------------------------- overrides


_SEGMENT = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def parse_key(key: str) -> list[str | int]:
    """`model.conv[1].stride` → ['model', 'conv', 1, 'stride']."""
    path: list[str | int] = []
    for part in key.split("."):
        match = _SEGMENT.fullmatch(part)
        if not match:
            raise SpecError(f"{key!r}: not a key path; write it like model.conv[1].stride")
        path.append(match.group(1))
        path.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    return path


def format_key(path: list[str | int] | tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def parse_override(item: str) -> tuple[str, Any]:
    """`key.path=value` with the value read as a YAML scalar or flow collection (`[3, 5]`, `{a: 1}`)."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {item!r}: expected KEY=VALUE, e.g. --set model.activation=tanh")
    try:
        value = yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        raise SpecError(f"--set {item!r}: the value is not valid YAML") from None
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


# --------------------------------------------------------------------------- sweeps


def expand_runs(spec: Spec) -> list[Spec]:
    """One resolved run spec per sweep combination × seed, in a stable order.

    Combinations are applied to the spec as the user wrote it (like `--set`), so sweeping
    `model.preset` brings each preset's own values."""
    keys = list(spec.sweep)
    seeds = spec.seeds if spec.seeds else [spec.seed]
    base = {k: v for k, v in spec._raw.items() if k not in ("sweep", "seeds")}
    runs = []
    for values in itertools.product(*(spec.sweep[k] for k in keys)):
        combo = dict(zip(keys, values, strict=True))
        for seed in seeds:
            try:
                run_raw = {**base, "seed": seed}
                for key, value in combo.items():
                    run_raw = apply_override(run_raw, key, value)
                run = resolve(run_raw)
            except SpecError as err:
                shown = ", ".join(f"{k}={v}" for k, v in combo.items())
                raise SpecError(f"sweep combination {shown}: {err}") from None
            run._swept = combo
            runs.append(run)
    return runs


# --------------------------------------------------------------------------- error messages


def format_validation_error(err: ValidationError) -> str:
    """The first pydantic error as `key.path: what is wrong`, plus a count of the others."""
    errors = err.errors(include_url=False)
    first = errors[0]
    loc = [p for p in first["loc"] if not (isinstance(p, str) and _is_pydantic_branch(p))]
    key = format_key(loc)
    if first["type"] == "extra_forbidden":
        valid = _fields_at(loc[:-1])
        hint = did_you_mean(str(loc[-1]), valid)
        message = f"unknown key{hint}" + (f"; valid keys here: {', '.join(valid)}" if valid and not hint else "")
    else:
        message = first["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if first["type"] not in ("value_error", "assertion_error") and "input" in first:
            message += f", got {first['input']!r}"
        field_name, sep, rest = message.partition(": ")  # a section check naming one of its keys
        if sep and field_name in _fields_at(loc):
            key, message = format_key([*loc, field_name]), rest
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    return f"{key or 'spec'}: {message}{more}"


def _is_pydantic_branch(part: str) -> bool:
    """Union/validator branch labels pydantic puts into error locations (`function-after[...]`)."""
    return "[" in part or part.startswith(("function-", "is-instance")) or \
        part in ("str", "int", "float", "bool", "list", "tuple", "dict", "none")


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
