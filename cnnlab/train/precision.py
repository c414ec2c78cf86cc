"""The numeric precision a run trains in (`train.precision`): float32, or mixed precision.

Mixed precision (Micikevicius et al., 2018, "Mixed Precision Training") keeps the weights, the
optimizer state and the loss in float32 and runs convolutions and matrix products in 16 bits, under
PyTorch's autocast (which keeps reductions such as softmax and cross-entropy in float32):
- bf16: bfloat16 has float32's exponent range, so gradients do not underflow and no loss scaling
  is needed; tensor cores of Ampere and later GPUs (compute capability 8.0+) run it natively.
- fp16: float16's narrow range underflows small gradients, so the loss is scaled up before the
  backward pass and the gradients scaled back before the step, the scale adjusted as overflows
  appear (dynamic loss scaling: torch.amp.GradScaler). For GPUs without bf16.
- auto: bf16 on a CUDA GPU that has it, else fp32. On a CPU without bf16 units autocast is far
  slower than float32, so fp32 stays the CPU default; bf16 (and fp16) still run there when asked.

The resolved precision is recorded in meta.json, and a resumed run continues in it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from cnnlab.errors import CnnlabError
from cnnlab.lazy import torch
from cnnlab.registry import Registry

PRECISIONS = Registry("precision")


class PrecisionError(CnnlabError):
    """A precision the training device cannot compute in."""


@dataclass(frozen=True)
class Precision:
    name: str  # fp32 | bf16 | fp16: what meta.json records
    dtype: Any  # autocast's dtype; None: no autocast (float32 throughout)
    loss_scaling: bool  # fp16: dynamic loss scaling

    def autocast(self, device) -> contextlib.AbstractContextManager:
        """The context a forward pass (and its loss) runs in."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=self.dtype)

    def scaler(self, device):
        """A GradScaler for fp16, else None (its state goes into last.pt: the scale is part of a resume)."""
        return torch.amp.GradScaler(device.type) if self.loss_scaling else None


def has_bf16(device) -> bool:
    """Whether `device` computes bfloat16 natively (a CUDA GPU of compute capability 8.0 or later; a
    CPU always can, emulated, slowly)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(including_emulation=False)
    return True


@PRECISIONS.register("auto", "bf16 on a GPU that has it, else fp32")
def auto(device, /) -> Precision:
    return bf16(device) if device.type == "cuda" and has_bf16(device) else fp32(device)


@PRECISIONS.register("fp32", "float32 throughout")
def fp32(device, /) -> Precision:
    return Precision("fp32", None, False)


@PRECISIONS.register("bf16", "autocast to bfloat16 (weights, optimizer and loss in float32)")
def bf16(device, /) -> Precision:
    if not has_bf16(device):
        name = torch.cuda.get_device_name(device)
        raise PrecisionError(f"train.precision: bf16 needs a GPU of compute capability 8.0 or later; {name} has "
                             f"none; use fp16 (loss-scaled) or fp32")
    return Precision("bf16", torch.bfloat16, False)


@PRECISIONS.register("fp16", "autocast to float16 with dynamic loss scaling")
def fp16(device, /) -> Precision:
    return Precision("fp16", torch.float16, True)


def resolve_precision(name: str, device) -> Precision:
    """`train.precision` (or the precision a resumed run recorded) on the training device."""
    return PRECISIONS.build(name, device)
