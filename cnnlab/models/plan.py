"""From a model spec and the dataset's input shape to a layer plan (pure Python, no torch).

Each step runs the shape arithmetic at once, so an impossible spec fails here, naming the spec key
and the layer, before any tensor exists (the pre-flight check of `cnnlab train`).
"""

from __future__ import annotations

from cnnlab.data.registry import DatasetInfo
from cnnlab.layers import Activation, Conv, Dropout, Flatten, GlobalAvgPool, Linear, Norm, Plan, Pool, Shape
from cnnlab.shapes import ShapeError, output_shape
from cnnlab.spec import ModelSpec, SpecError


class _PlanBuilder:
    def __init__(self, model: ModelSpec, info: DatasetInfo) -> None:
        self.model = model
        self.shape: Shape = info.shape
        self.plan: Plan = []

    def add(self, name: str, layer, key: str) -> None:
        try:
            self.shape = output_shape(layer, self.shape)
        except ShapeError as err:
            raise SpecError(f"{key} (layer {name}): {err}") from None
        self.plan.append((name, layer))

    def norm(self, name: str, channels: int, spatial: bool, where: str) -> None:
        norm = self.model.norm
        if norm.name == "none":
            return
        if norm.name == "instance" and not spatial:
            raise SpecError("model.norm: instance norm needs feature maps, and an mlp has none; "
                            "choose batch, layer or group")
        groups = norm.options.get("num_groups")
        if groups and channels % groups:
            raise SpecError(f"model.norm: group norm with num_groups={groups} needs channel counts divisible "
                            f"by {groups}, but {where} has {channels}")
        self.add(name, Norm(norm.name, channels, dict(norm.options), spatial=spatial), "model.norm")

    def activated(self, prefix: str, channels: int, spatial: bool, where: str, norm: bool = True) -> None:
        """Activation, with the norm before or after it as the spec says."""
        act = Activation(self.model.activation.name, dict(self.model.activation.options))
        if norm and self.model.norm_position == "before":
            self.norm(f"{prefix}norm", channels, spatial, where)
        self.add(f"{prefix}act", act, "model.activation")
        if norm and self.model.norm_position == "after":
            self.norm(f"{prefix}norm", channels, spatial, where)

    def linear(self, name: str, features: int, key: str) -> None:
        if self.model.dropout > 0:
            self.add(f"{name}_drop", Dropout(self.model.dropout), "model.dropout")
        self.add(name, Linear(self.shape[0], features), key)


def build_plan(model: ModelSpec, info: DatasetInfo) -> Plan:
    """The layers of `model` for inputs of `info.shape`, with `info.num_classes` outputs."""
    b = _PlanBuilder(model, info)
    if model.kind == "cnn":
        for i, conv in enumerate(model.conv):
            key, n = f"model.conv[{i}]", i + 1
            b.add(f"conv{n}", Conv(b.shape[0], conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                                   conv.dilation, conv.groups), key)
            b.activated(f"conv{n}_", conv.out_channels, True, f"conv{n} ({key})")
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
        b.activated(f"{name}_", width, False, f"{name} (model.fc[{j}])", norm=model.kind == "mlp")
    b.linear("head", head_outputs(model, info), "model.head")
    return b.plan


def head_outputs(model: ModelSpec, info: DatasetInfo) -> int:
    """Softmax: one logit per class. Sigmoid: one logit, for exactly two classes."""
    if model.head == "softmax":
        return info.num_classes
    if info.num_classes != 2:
        raise SpecError(f"model.head: sigmoid is the binary output (one logit) but the dataset has "
                        f"{info.num_classes} classes; use head: softmax")
    return 1
