"""Normalization of activations by name. Each entry gets the channel (or feature) count and whether
it sits in a conv block (feature maps N×C×H×W) or a fully-connected block (N×F).

Structural rules (instance norm needs feature maps with more than one position, group norm needs
divisible channel counts) live with every other layer rule in cnnlab.shape.rules, checked before any
tensor exists."""

from __future__ import annotations

from cnnlab.constraints import Count, Positive, Probability
from cnnlab.lazy import nn
from cnnlab.registry import Registry

NORMS = Registry("norm")


@NORMS.register("none", "no normalization")
def none(channels: int, spatial: bool, /):
    return None


@NORMS.register("batch", "per channel over the batch (and positions); running stats at evaluation")
def batch(channels: int, spatial: bool, /, *, eps: Positive = 1e-5, momentum: Probability = 0.1):
    cls = nn.BatchNorm2d if spatial else nn.BatchNorm1d
    return cls(channels, eps=eps, momentum=momentum)


@NORMS.register("layer", "per sample over all channels and positions (GroupNorm with one group)")
def layer(channels: int, spatial: bool, /, *, eps: Positive = 1e-5):
    # For feature maps this is GroupNorm(1, C): statistics over C×H×W, one scale/shift per channel,
    # so the layer does not depend on the image size. For vectors it is the usual LayerNorm.
    return nn.GroupNorm(1, channels, eps=eps) if spatial else nn.LayerNorm(channels, eps=eps)


@NORMS.register("instance", "per sample and channel over positions")
def instance(channels: int, spatial: bool, /, *, eps: Positive = 1e-5):
    return nn.InstanceNorm2d(channels, eps=eps, affine=True)


@NORMS.register("group", "per sample over groups of channels")
def group(channels: int, spatial: bool, /, *, num_groups: Count = 8, eps: Positive = 1e-5):
    return nn.GroupNorm(num_groups, channels, eps=eps)
