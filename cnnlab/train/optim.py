"""Optimizers and learning-rate schedules by name.

Schedules are stepped once per batch (so `onecycle` and `cosine` are smooth); options given in
epochs (`step_size`) are converted with the number of batches per epoch.

On a GPU the optimizers that have one use PyTorch's fused kernel (`fused`): one kernel for the whole
update instead of several per parameter, and, for fp16, loss scaling without reading the gradients'
overflow flag on the host at every step (rmsprop has none: with fp16 it synchronises once a step).
"""

from __future__ import annotations

from cnnlab.constraints import Count, Momentum, NonNegative, OpenFraction, Positive
from cnnlab.lazy import torch
from cnnlab.registry import Registry

OPTIMIZERS = Registry("optimizer")
SCHEDULERS = Registry("scheduler")


@OPTIMIZERS.register("sgd", "stochastic gradient descent with (Nesterov) momentum")
def sgd(params, fused: bool = False, /, *, lr: Positive = 0.05, momentum: Momentum = 0.9, nesterov: bool = False,
        weight_decay: NonNegative = 5e-4):
    return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=nesterov and momentum > 0,
                           weight_decay=weight_decay, fused=fused or None)


@OPTIMIZERS.register("adam", "Adam; weight_decay is L2 added to the gradient")
def adam(params, fused: bool = False, /, *, lr: Positive = 1e-3, beta1: Momentum = 0.9, beta2: Momentum = 0.999,
         eps: Positive = 1e-8, weight_decay: NonNegative = 0.0):
    return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                            fused=fused or None)


@OPTIMIZERS.register("adamw", "Adam with decoupled weight decay")
def adamw(params, fused: bool = False, /, *, lr: Positive = 1e-3, beta1: Momentum = 0.9, beta2: Momentum = 0.999,
          eps: Positive = 1e-8, weight_decay: NonNegative = 0.01):
    return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                             fused=fused or None)


@OPTIMIZERS.register("rmsprop", "RMSProp")
def rmsprop(params, fused: bool = False, /, *, lr: Positive = 1e-3, alpha: Momentum = 0.99, momentum: Momentum = 0.0,
            eps: Positive = 1e-8, weight_decay: NonNegative = 0.0):
    return torch.optim.RMSprop(params, lr=lr, alpha=alpha, momentum=momentum, eps=eps,
                               weight_decay=weight_decay)


@SCHEDULERS.register("none", "constant learning rate")
def constant(optimizer, steps_per_epoch: int, epochs: int, /):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


@SCHEDULERS.register("step", "multiply the rate by gamma every step_size epochs")
def step(optimizer, steps_per_epoch: int, epochs: int, /, *, step_size: Count = 30, gamma: Positive = 0.1):
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step_size * steps_per_epoch, gamma=gamma)


@SCHEDULERS.register("cosine", "cosine decay from the initial rate to min_lr over the whole run")
def cosine(optimizer, steps_per_epoch: int, epochs: int, /, *, min_lr: NonNegative = 0.0):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps_per_epoch * epochs, eta_min=min_lr)


@SCHEDULERS.register("onecycle", "warm up to max_lr, then anneal (Smith & Topin, 2019)")
def onecycle(optimizer, steps_per_epoch: int, epochs: int, /, *, max_lr: Positive = 0.1,
             pct_start: OpenFraction = 0.25):
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=steps_per_epoch * epochs,
                                               pct_start=pct_start)
