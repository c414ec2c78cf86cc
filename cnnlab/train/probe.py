"""One pass over the fixed probe batch that leaves training as it was: what each weighted layer's
nonlinearity receives and gives, and (when asked) the probe loss's gradients.

Batch norm runs on the probe's own statistics but its running statistics are put back, dropout is
off, no random number is drawn from a generator training uses, and the gradients come from
autograd.grad, not through `.grad`. So a run gives the same numbers with the probe or without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from cnnlab.models.builder import Weighted


@dataclass
class Probed:
    """Per weighted layer, in order: the input of its nonlinearity (the pre-activation) and its output
    (the activation; a layer without an activation module: its own output, both), detached; with
    gradients, the probe loss's gradient with respect to each layer's weight and to its activation."""

    pre: list[torch.Tensor]
    out: list[torch.Tensor]
    weight_grads: tuple[torch.Tensor, ...] = ()
    out_grads: tuple[torch.Tensor, ...] = ()


def probe(model: nn.Module, layers: Sequence[Weighted], x: torch.Tensor, y: torch.Tensor,
          loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], gradients: bool) -> Probed:
    """The probe pass over (x, y); with `gradients`, a backward pass too, else none (inference mode)."""
    training = model.training
    buffers = [b.clone() for b in model.buffers()]
    seen: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    hooks = []
    for i, w in enumerate(layers):
        watched = getattr(model, w.activation_name or w.name)
        hooks.append(watched.register_forward_hook(
            lambda m, args, out, i=i, own=w.activation_name is None: seen.__setitem__(i, (out if own else args[0],
                                                                                         out))))
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    try:
        if gradients:
            with torch.enable_grad():
                probe_loss = loss(model(x), y)
                outs = [seen[i][1] for i in range(len(layers))]
                weights = [getattr(model, w.name).weight for w in layers]
                grads = torch.autograd.grad(probe_loss, [*weights, *outs])
        else:
            with torch.inference_mode():
                model(x)
            grads = ()
    finally:
        for hook in hooks:
            hook.remove()
        with torch.no_grad():
            for buffer, saved in zip(model.buffers(), buffers, strict=True):
                buffer.copy_(saved)
        model.train(training)
    n = len(layers)
    return Probed([seen[i][0].detach() for i in range(n)], [seen[i][1].detach() for i in range(n)],
                  tuple(grads[:n]), tuple(grads[n:]))
