"""From a model spec and its input to a layer plan (pure Python, no torch).

Each step asks the layer rules at once, so an impossible spec fails here, naming the spec key and
the layer, before any tensor exists (the pre-flight check of `cnnlab train`).
"""

from __future__ import annotations

from typing import Protocol

from cnnlab.registry import did_you_mean, registry
from cnnlab.shape.layers import (
    Activation,
    Connections,
    Conv,
    Dropout,
    Flatten,
    GlobalAvgPool,
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
from cnnlab.shape.tables import TABLES
from cnnlab.spec import ConvSpec, ModelSpec, SpecError

BIAS_CANCELLING_NORMS = frozenset({"batch", "instance"})
"""Norms that subtract each channel's mean (over the batch, or over one image's positions): a bias
added just before them is cancelled, "the role of the bias is subsumed by β" (Ioffe & Szegedy 2015,
§3.2), so a conv or linear layer followed directly by one of them has no bias, as in torchvision
and timm. Layer and group norm subtract a mean over several channels, which a per-channel bias
survives: layers before them keep theirs."""


class ModelInput(Protocol):
    """What a model is built for: one image's shape and the number of classes (a DatasetInfo)."""

    @property
    def shape(self) -> Shape: ...

    @property
    def num_classes(self) -> int: ...


class _PlanBuilder:
    def __init__(self, model: ModelSpec, info: ModelInput) -> None:
        self.model = model
        self.shape: Shape = info.shape
        self.plan: Plan = []
        self.keys: dict[str, str] = {}  # layer name → the spec key it comes from

    def add(self, name: str, layer, key: str) -> None:
        try:
            self.shape = output_shape(layer, self.shape)
        except ShapeError as err:
            raise SpecError(f"{key} (layer {name}): {err}") from None
        self.plan.append((name, layer))
        self.keys[name] = key

    def norm(self, name: str, channels: int, spatial: bool) -> None:
        norm = self.model.norm
        if norm.name != "none":  # the shape rules check that the norm fits this layer
            self.add(name, Norm(norm.name, channels, frozen(norm.options), spatial=spatial), "model.norm")

    def biased(self, norm: bool = True) -> bool:
        """Whether the weighted layer about to be added keeps its bias (see BIAS_CANCELLING_NORMS)."""
        model = self.model
        return not (norm and model.norm_position == "before" and model.norm.name in BIAS_CANCELLING_NORMS)

    def activated(self, prefix: str, channels: int, spatial: bool, norm: bool = True) -> None:
        """Activation, with the norm before or after it as the spec says."""
        act = Activation(self.model.activation.name, frozen(self.model.activation.options))
        if norm and self.model.norm_position == "before":
            self.norm(f"{prefix}norm", channels, spatial)
        self.add(f"{prefix}act", act, "model.activation")
        if norm and self.model.norm_position == "after":
            self.norm(f"{prefix}norm", channels, spatial)

    def linear(self, name: str, features: int, key: str, bias: bool = True) -> None:
        if self.model.dropout > 0:
            self.add(f"{name}_drop", Dropout(self.model.dropout), "model.dropout")
        self.add(name, Linear(self.shape[0], features, bias), key)

    def conv_block(self, n: int, conv: ConvSpec, key: str) -> None:
        """conv → (norm, activation) → pooling; a LeNet subsampling is followed by the activation too."""
        layer = Conv(self.shape[0], conv.out_channels, conv.kernel_size, conv.stride, conv.padding, conv.dilation,
                     conv.groups, self.biased(), connections(conv, f"{key}.connections"))
        self.add(f"conv{n}", layer, key)
        self.activated(f"conv{n}_", conv.out_channels, True)
        p = conv.pool
        if p is None:
            return
        if p.type == "subsample":
            self.add(f"pool{n}", Subsample(conv.out_channels, p.kernel_size, p.stride, p.padding, p.ceil_mode),
                     f"{key}.pool")
            self.activated(f"pool{n}_", conv.out_channels, True, norm=False)
        else:
            self.add(f"pool{n}", Pool(p.type, p.kernel_size, p.stride, p.padding, p.dilation, p.ceil_mode),
                     f"{key}.pool")


def connections(conv: ConvSpec, key: str) -> Connections | None:
    """A conv's connection table: none, a named one, or the spec's own lists."""
    table = conv.connections
    if table is None or isinstance(table, list):
        return None if table is None else tuple(tuple(inputs) for inputs in table)
    if table not in TABLES:
        raise SpecError(f"{key}: unknown connection table {table!r}{did_you_mean(table, TABLES)}; "
                        f"name one of: {', '.join(TABLES)}, or give one list of input channels per output channel")
    return TABLES[table]


def build_plan(model: ModelSpec, info: ModelInput) -> Plan:
    """The layers of `model` for inputs of `info.shape`, with `info.num_classes` outputs."""
    return build_keyed_plan(model, info)[0]


def build_keyed_plan(model: ModelSpec, info: ModelInput) -> tuple[Plan, dict[str, str]]:
    """The plan of `model` (build_plan), and the spec key each of its layers comes from
    (`conv2` → `model.conv[1]`, `conv2_norm` → `model.norm`), for messages that name the key to change."""
    b = _PlanBuilder(model, info)
    if model.kind == "cnn":
        for i, conv in enumerate(model.conv):
            b.conv_block(i + 1, conv, f"model.conv[{i}]")
        b.add("global_pool" if model.global_pool else "flatten",
              GlobalAvgPool() if model.global_pool else Flatten(), "model.global_pool")
    else:
        b.add("flatten", Flatten(), "model.kind")
    for j, width in enumerate(model.fc):
        name = f"fc{j + 1}"
        # The norm applies to conv feature maps; in an mlp, to its hidden layers.
        normed = model.kind == "mlp"
        b.linear(name, width, f"model.fc[{j}]", b.biased(normed))
        b.activated(f"{name}_", width, False, norm=normed)
    b.linear("head", head_outputs(model, info), "model.head")
    return b.plan, b.keys


def head_outputs(model: ModelSpec, info: ModelInput) -> int:
    """The logits of the output layer, as the head registry says (softmax: one per class, sigmoid: one)."""
    try:
        return registry("head").build(model.head, info.num_classes).outputs
    except ValueError as err:
        raise SpecError(f"model.head: {err}") from None


def check_batch_statistics(plan: Plan, info: ModelInput, batch_size: int) -> None:
    """Batch norm computes each channel's mean and variance over the training batch (and positions):
    one value per channel leaves the variance undefined, and PyTorch refuses to train on it."""
    shape = info.shape
    for name, layer in plan:
        if isinstance(layer, Norm) and layer.kind == "batch":
            positions = shape[1] * shape[2] if len(shape) == 3 else 1
            if batch_size * positions < 2:
                where = f"its {shape[1]}×{shape[2]} map" if len(shape) == 3 else "its features"
                raise SpecError(f"train.batch_size: 1 with batch norm (layer {name}, {where}) gives one value per "
                                f"channel to normalize over; use a batch of 2 or more, or another model.norm")
        shape = output_shape(layer, shape)
