"""Pooling layers by name (the `type` of a conv block's `pool`)."""

from __future__ import annotations

from cnnlab.lazy import nn
from cnnlab.registry import Registry
from cnnlab.shape.layers import Pool, Subsample

POOLS = Registry("pool")


@POOLS.register("max", "the largest value in each window")
def max_pool(pool: Pool, /):
    return nn.MaxPool2d(pool.kernel_size, pool.stride, pool.padding, pool.dilation, ceil_mode=pool.ceil_mode)


@POOLS.register("avg", "the mean of each window; zero padding counts in the mean")
def avg_pool(pool: Pool, /):
    return nn.AvgPool2d(pool.kernel_size, pool.stride, pool.padding, ceil_mode=pool.ceil_mode)


@POOLS.register("subsample", "LeNet-5's subsampling: window sum × a trainable coefficient + a trainable bias "
                             "per map, then the activation (LeCun et al. 1998)")
def subsample(layer: Subsample, /):
    from cnnlab.models.layers import Subsample2d  # imports torch: only when a model is built

    return Subsample2d(layer.channels, layer.kernel_size, layer.stride, layer.padding, layer.ceil_mode)
