"""Synchronised batch norm (`train.sync_bn`): under torchrun, each batch norm layer normalizes with
the mean and variance of the whole global batch, as Ioffe & Szegedy (2015) define them over the
mini-batch, not of the slice one rank sees; so a run on N processes computes what one process with
the same batch would (up to the order of float sums), and its running statistics are those of the
global batch.

On GPUs this is PyTorch's nn.SyncBatchNorm. PyTorch's does not run on CPU tensors, so CPU runs (gloo)
use `CpuSyncBatchNorm` below: the same statistics, from per-channel sums all-reduced across ranks,
with gradients flowing back through the all-reduce.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn


class _SumOverRanks(torch.autograd.Function):
    """Σ over ranks of a tensor; its gradient is the Σ over ranks of the incoming gradients (every
    rank's loss depends on every rank's input through the shared statistics)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        out = grad.clone()
        dist.all_reduce(out)
        return out


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the global batch for N×C and N×C×H×W inputs on CPU processes (two passes: the
    mean, then the mean squared deviation from it, each summed over ranks). Evaluation uses the
    running statistics, like nn.BatchNorm."""

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() not in (2, 4):
            raise ValueError(f"expected 2D or 4D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(input)
        dims = [0] if input.dim() == 2 else [0, 2, 3]
        shape = [1, -1] + [1] * (input.dim() - 2)
        x = input.float()
        count = torch.tensor(float(x.numel() // x.shape[1]))
        dist.all_reduce(count)
        mean = _SumOverRanks.apply(x.sum(dims)) / count
        centred = x - mean.view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims)) / count  # biased: what normalizes
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
                self.running_mean.lerp_(mean, momentum)
                self.running_var.lerp_(var * count / (count - 1), momentum)  # unbiased, as nn.BatchNorm keeps
        return out.to(input.dtype)


def synchronise_batch_norm(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` with every batch norm layer synchronised across the ranks."""
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return _convert(model)


def _convert(module: nn.Module) -> nn.Module:
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        synced = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                  module.track_running_stats)
        synced.load_state_dict(module.state_dict())
        return synced
    for name, child in module.named_children():
        module.add_module(name, _convert(child))
    return module

