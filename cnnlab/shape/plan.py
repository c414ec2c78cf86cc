"""From a model spec and its input to a layer plan (pure Python, no torch).

Each step asks the layer rules at once, so an impossible spec fails here, naming the spec key and
the layer, before any tensor exists (the pre-flight check of `cnnlab train`).
"""

from __future__ import annotations

from typing import Protocol

from cnnlab.registry import registry
from cnnlab.shape.layers import (
    Activation,
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
    frozen,
)
from cnnlab.shape.rules import output_shape
from cnnlab.spec import ModelSpec, SpecError


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

    def add(self, name: str, layer, key: str) -> None:
        try:
            self.shape = output_shape(layer, self.shape)
        except ShapeError as err:
            raise SpecError(f"{key} (layer {name}): {err}") from None
        self.plan.append((name, layer))

    def norm(self, name: str, channels: int, spatial: bool) -> None:
        norm = self.model.norm
        if norm.name != "none":  # the shape rules check that the norm fits this layer
            self.add(name, Norm(norm.name, channels, frozen(norm.options), spatial=spatial), "model.norm")

    def activated(self, prefix: str, channels: int, spatial: bool, norm: bool = True) -> None:
        """Activation, with the norm before or after it as the spec says."""
        act = Activation(self.model.activation.name, frozen(self.model.activation.options))
        if norm and self.model.norm_position == "before":
            self.norm(f"{prefix}norm", channels, spatial)
        self.add(f"{prefix}act", act, "model.activation")
        if norm and self.model.norm_position == "after":
            self.norm(f"{prefix}norm", channels, spatial)

    def linear(self, name: str, features: int, key: str) -> None:
        if self.model.dropout > 0:
            self.add(f"{name}_drop", Dropout(self.model.dropout), "model.dropout")
        self.add(name, Linear(self.shape[0], features), key)


def build_plan(model: ModelSpec, info: ModelInput) -> Plan:
    """The layers of `model` for inputs of `info.shape`, with `info.num_classes` outputs."""
    b = _PlanBuilder(model, info)
    if model.kind == "cnn":
        for i, conv in enumerate(model.conv):
            key, n = f"model.conv[{i}]", i + 1
            b.add(f"conv{n}", Conv(b.shape[0], conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                   conv.dilation, conv.groups), key)
            b.activated(f"conv{n}_", conv.out_channels, True)
            if conv.pool is not None:
                p = conv.pool
                b.add(f"pool{n}", Pool(p.type, p.kernel_size, p.stride, p.padding, p.dilation, p.ceil_mode),
                      f"{key}.pool")
        b.add("global_pool" if model.global_pool else "flatten",
              GlobalAvgPool() if model.global_pool else Flatten(), "model.global_pool")
    else:
        b.add("flatten", Flatten(), "model.kind")
    for j, width in enumerate(model.fc):
        name = f"fc{j + 1}"
        b.linear(name, width, f"model.fc[{j}]")
        # The norm applies to conv feature maps; in an mlp, to its hidden layers.
        b.activated(f"{name}_", width, False, norm=model.kind == "mlp")
    b.linear("head", head_outputs(model, info), "model.head")
    return b.plan


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
