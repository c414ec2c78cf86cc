"""Where and how a run computes: the device, the seeds, the memory format, the choice of kernels."""

from __future__ import annotations

import os
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


def configure_kernels(deterministic: bool) -> None:
    """How convolutions and other kernels are chosen (`train.deterministic`).

    By default cuDNN times the candidate algorithms for each new input shape and keeps the fastest
    (`cudnn.benchmark`, as the torchvision reference scripts do): the fastest on a GPU, but the choice
    may differ between two runs and some algorithms sum in a nondeterministic order, so GPU numbers
    may differ in their last bits from run to run. `deterministic` gives that up: no autotuning,
    cuDNN's deterministic algorithms, torch.use_deterministic_algorithms (an operation that has no
    deterministic implementation on the device fails the run, naming it) and cuBLAS's fixed
    workspace. It costs speed on a GPU; CPU kernels are deterministic either way."""
    torch.backends.cudnn.benchmark = not deterministic
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # read when cuBLAS starts
    torch.use_deterministic_algorithms(deterministic)
