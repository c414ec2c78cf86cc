"""A run's model as it meets raw images: the zero padding (data.pad) and the input normalization it
was trained with, as layers in front of it, so that an exported graph (cnnlab export onnx) takes the
dataset's images scaled to [0, 1] and computes what the run computed. The padding comes first, as in
the data pipeline (cnnlab.data.geometry pads the uint8 images, the batches are normalized after)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class RawInput(nn.Module):
    """model(normalize(pad(x))): x is N×C×H×W in [0, 1], H and W before the padding."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float], pad: int) -> None:
        super().__init__()
        self.model, self.pad = model, pad
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.pad:
            images = nn.functional.pad(images, (self.pad,) * 4)
        return self.model((images - self.mean) / self.std)
