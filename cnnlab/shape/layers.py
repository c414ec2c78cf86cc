"""The layer plan: a model as a list of plain, torch-free layer descriptions (the shape package's IR).

One plan has two readers. `cnnlab.shape.analysis` walks it to compute output sizes, receptive
fields, parameters and MACs without importing torch; `cnnlab.models.builder` turns each entry into
the matching `torch.nn` module. Both therefore always describe the same network.

Sizes are per axis pairs (height, width). A plan is a list of `(name, layer)` tuples; the names
("conv1", "pool1", "fc1", "head" ...) become the module names of the built `nn.Sequential`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cnnlab.errors import CnnlabError

Pair = tuple[int, int]
Shape = tuple[int, ...]  # (C, H, W) for feature maps, (F,) after flatten
Options = tuple[tuple[str, Any], ...]  # a registry entry's options, frozen so that layers hash
Connections = tuple[tuple[int, ...], ...]  # per output channel, the input channels it sees


class ShapeError(CnnlabError):
    """A layer cannot take the shape it is given; the message names the rule and the numbers."""


def shape_text(shape: Shape) -> str:
    """(6, 28, 28) → '6×28×28'."""
    return "×".join(str(n) for n in shape)


def pair_text(value: Pair) -> str:
    """(5, 5) → '5'; (5, 3) → '5×3'."""
    return str(value[0]) if value[0] == value[1] else f"{value[0]}×{value[1]}"


def frozen(options: Mapping[str, Any]) -> Options:
    """Registry options as a hashable tuple of (name, value) pairs, in a stable order."""
    return tuple(sorted(options.items()))


def pair(value: int | Pair | list[int]) -> Pair:
    """An int or a 2-sequence as a (height, width) pair."""
    if isinstance(value, int):
        return (value, value)
    h, w = value
    return (int(h), int(w))


@dataclass(frozen=True)
class Conv:
    """nn.Conv2d. `padding` is a pair or PyTorch's string modes 'same' / 'valid'.

    With `connections`, output channel j sees only the input channels connections[j], each through
    its own kernel (LeCun et al. 1998, Table I: LeNet-5's C3); only those kernels are parameters.
    """

    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pair | Literal["same", "valid"] = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True
    connections: Connections | None = None  # None: every output channel sees every input channel


@dataclass(frozen=True)
class ConvTranspose:
    """nn.ConvTranspose2d."""

    in_channels: int
    out_channels: int
    kernel_size: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)
    output_padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True


@dataclass(frozen=True)
class Pool:
    """nn.MaxPool2d (kind='max') or nn.AvgPool2d (kind='avg'; no dilation in PyTorch)."""

    kind: Literal["max", "avg"]
    kernel_size: Pair
    stride: Pair
    padding: Pair = (0, 0)
    dilation: Pair = (1, 1)
    ceil_mode: bool = False


@dataclass(frozen=True)
class Subsample:
    """LeNet-5's trainable subsampling (LeCun et al. 1998, S2 and S4): each map's window is summed,
    multiplied by that map's trainable coefficient and shifted by its trainable bias (2 parameters
    per map). The activation that follows is part of the layer in the paper; the plan adds it."""

    channels: int
    kernel_size: Pair
    stride: Pair
    padding: Pair = (0, 0)
    ceil_mode: bool = False


@dataclass(frozen=True)
class GlobalAvgPool:
    """nn.AdaptiveAvgPool2d(1) followed by a flatten: C×H×W → C."""


@dataclass(frozen=True)
class Flatten:
    """nn.Flatten: C×H×W → C·H·W."""


@dataclass(frozen=True)
class Linear:
    """nn.Linear."""

    in_features: int
    out_features: int
    bias: bool = True


@dataclass(frozen=True)
class Norm:
    """A normalization layer from the `norm` registry over `channels` channels (or features).

    Each registered norm has a learnable scale and shift per channel when `affine`, so it owns
    2·channels parameters; running statistics are buffers, not parameters.
    """

    kind: str
    channels: int
    options: Options = ()
    affine: bool = True
    spatial: bool = True  # over feature maps (N×C×H×W) or, False, over vectors (N×F)


@dataclass(frozen=True)
class Activation:
    """An activation from the `activation` registry. No parameters."""

    kind: str
    options: Options = ()


@dataclass(frozen=True)
class Dropout:
    """nn.Dropout: element-wise dropout with probability p (identity at evaluation)."""

    p: float


Layer = Conv | ConvTranspose | Pool | Subsample | GlobalAvgPool | Flatten | Linear | Norm | Activation | Dropout
Plan = list[tuple[str, Layer]]
