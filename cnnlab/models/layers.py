"""Torch modules for the layer kinds torch has no module for: LeNet-5's trainable subsampling and a
convolution whose output channels see only some input channels (LeCun et al. 1998).

Each holds exactly the trainable parameters the paper counts, and says through `init_views` how an
initialization scheme should see its weights (which tensor, with which fan-in and fan-out), since
PyTorch's rule of reading fans off the weight's shape does not apply to them. Imported only when a
model is built (it imports torch).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from cnnlab.shape.layers import Connections, Pair

InitView = tuple[torch.Tensor, float, float]  # (tensor to fill in place, fan_in, fan_out)


class PartialConv2d(nn.Module):
    """A convolution with a connection table: output channel j sums, over the input channels
    `connections[j]` only, each convolved with its own kernel, plus a bias.

    The kernels are stored side by side (one per connection, the paper's parameters) and scattered
    into a dense weight with zeros for the missing connections at each forward pass.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair, stride: Pair, padding,
                 dilation: Pair, connections: Connections, bias: bool = True) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.padding, self.dilation, self.connections = stride, padding, dilation, connections
        flat = [j * in_channels + i for j, inputs in enumerate(connections) for i in inputs]
        self.register_buffer("index", torch.tensor(flat), persistent=False)
        self.weight = nn.Parameter(torch.empty(len(flat), *kernel_size))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.reset_parameters()

    def _slices(self):
        """(output channel, its kernels) in storage order."""
        start = 0
        for j, inputs in enumerate(self.connections):
            yield j, self.weight[start:start + len(inputs)]
            start += len(inputs)

    def init_views(self) -> list[InitView]:
        """One view per output channel, shaped like the weight of a conv with one output and its own
        inputs: fan_in = its inputs × kernel area; fan_out = kernel area × the mean number of output
        channels its inputs feed (exact for a balanced table such as LeNet-5's: every S2 map feeds 10)."""
        area = math.prod(self.kernel_size)
        feeds = [sum(i in inputs for inputs in self.connections) for i in range(self.in_channels)]
        views = []
        for j, kernels in self._slices():
            inputs = self.connections[j]
            fan_out = area * sum(feeds[i] for i in inputs) / len(inputs)
            views.append((kernels.unsqueeze(0), area * len(inputs), fan_out))
        return views

    def reset_parameters(self) -> None:
        """PyTorch's default for a convolution, per output channel: U(±1/sqrt(fan_in)) for its kernels
        and its bias."""
        with torch.no_grad():
            for j, kernels in self._slices():
                bound = 1 / math.sqrt(kernels.numel())
                kernels.uniform_(-bound, bound)
                if self.bias is not None:
                    self.bias[j].uniform_(-bound, bound)

    def dense_weight(self) -> torch.Tensor:
        """The out × in × kH × kW weight, zero where the table has no connection."""
        dense = self.weight.new_zeros(self.out_channels * self.in_channels, *self.kernel_size)
        return dense.index_copy(0, self.index, self.weight).view(self.out_channels, self.in_channels,
                                                                 *self.kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"connections={self.weight.shape[0]} of {self.in_channels * self.out_channels}")


class Subsample2d(nn.Module):
    """LeNet-5's S2/S4: the sum of each window × a trainable coefficient per map + a trainable bias
    per map (the activation after it is a separate module)."""

    def __init__(self, channels: int, kernel_size: Pair, stride: Pair, padding: Pair = (0, 0),
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode
        self.weight = nn.Parameter(torch.empty(channels))
        self.bias = nn.Parameter(torch.empty(channels))
        self.reset_parameters()

    def init_views(self) -> list[InitView]:
        """The coefficients as a column: each multiplies the sum of one window, so fan_in is the window
        area and fan_out the number of windows an input falls into (1 for LeNet's 2×2, stride 2)."""
        area = math.prod(self.kernel_size)
        return [(self.weight.unsqueeze(1), area, max(1.0, area / math.prod(self.stride)))]

    def reset_parameters(self) -> None:
        """PyTorch's rule for a layer of fan-in n (the window area): U(±1/sqrt(n))."""
        bound = 1 / math.sqrt(math.prod(self.kernel_size))
        with torch.no_grad():
            self.weight.uniform_(-bound, bound)
            self.bias.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sums = F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            count_include_pad=True, divisor_override=1)
        return sums * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, kernel_size={self.kernel_size}, stride={self.stride}"
