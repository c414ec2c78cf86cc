"""Where and how a run computes: the device, the seeds, the memory format."""

from __future__ import annotations

import random

import numpy as np
import torch

from cnnlab.errors import CnnlabError
from cnnlab.shape.layers import Conv, Plan


class DeviceError(CnnlabError):
    """A device the spec asks for that this machine does not have."""


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA, then MPS, then the CPU; a named device must exist."""
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name.startswith("cuda"):
        if not cuda:
            raise DeviceError(f"train.device: {name} is not available here (no CUDA GPU found by torch "
                              f"{torch.__version__}); use device: auto or cpu")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise DeviceError(f"train.device: {name} does not exist; this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not mps:
        raise DeviceError("train.device: mps is not available here; use device: auto or cpu")
    return torch.device(name)


def uses_channels_last(requested: bool, plan: Plan) -> bool:
    """NHWC layout where it can pay off: the spec asks for it (train.channels_last) and the model has
    convolutions."""
    return requested and any(isinstance(layer, Conv) for _, layer in plan)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True  # same spec + seed + machine → same numbers
    torch.backends.cudnn.benchmark = False
