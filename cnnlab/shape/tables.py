"""Named connection tables: which input channels each output channel of a convolution sees
(`model.conv[i].connections` in a spec)."""

from __future__ import annotations

from cnnlab.shape.layers import Connections


def _cyclic(start: int, length: int, maps: int = 6) -> tuple[int, ...]:
    return tuple(sorted((start + k) % maps for k in range(length)))


LENET5_C3: Connections = (
    *(_cyclic(j, 3) for j in range(6)),  # maps 0–5: three neighbouring S2 maps
    *(_cyclic(j, 4) for j in range(6)),  # maps 6–11: four neighbouring S2 maps
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),  # maps 12–14: four maps, not all neighbours
    (0, 1, 2, 3, 4, 5),  # map 15: all six
)
"""LeCun et al. (1998), Table I: the 16 maps of C3 over the 6 maps of S2, 60 connections. "The
rationale is to keep the number of connections within reasonable bounds [and] to break the
symmetry in the network: different feature maps are forced to extract different features."""

TABLES: dict[str, Connections] = {"lenet5": LENET5_C3}
"""Table name → connections, as `connections: lenet5` names them in a spec."""
