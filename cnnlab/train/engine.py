"""How this process computes a training step and an evaluation pass: the model on its device and in
its memory format, batch norm synchronised and the gradients averaged across processes (torchrun),
mixed precision (autocast, loss scaling for fp16), and torch.compile.

The loop (cnnlab.train.loop) asks for a step and gets the detached loss and logits back: what to
compute with is decided here, once, when the run is set up (the way the torchvision reference scripts
and airbench set up a model before their loops). Nothing here reads a value back to the host: a GPU
runs ahead of the Python that feeds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from cnnlab.train.distributed import World
from cnnlab.train.precision import Precision
from cnnlab.train.sync_bn import synchronise_batch_norm

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Engine:
    """The model of one run on this process, and the two things done with it: `train_step`, `forward`.

    `model` is the plain module (its state_dict is what checkpoints hold, whatever wraps it). With
    `compile`, batches of the usual size go through the compiled module and the odd last batch of an
    epoch through the eager one (the same weights), so a new batch size never recompiles."""

    def __init__(self, model: torch.nn.Module, device: torch.device, precision: Precision, world: World, *,
                 channels_last: bool, compile: bool, sync_bn: bool, batch_size: int) -> None:
        model = model.to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        if sync_bn and world.size > 1:
            model = synchronise_batch_norm(model, device)
        self.model, self.device, self.precision, self.world = model, device, precision, world
        self.channels_last, self.sync_bn = channels_last, sync_bn and world.size > 1
        self.scaler = precision.scaler(device)
        self.trained = world.parallel(model, device)  # DistributedDataParallel under torchrun
        self.compiled = compile
        usual = world.shard.part(batch_size)
        self.full_batch = usual.stop - usual.start  # this rank's part of a whole batch
        self._train = torch.compile(self.trained) if compile else self.trained
        self._eval = torch.compile(model) if compile else model
        self.warmup_seconds = 0.0  # compiling, on the first step (excluded from images/s)
        self.warming_up = compile

    def train_step(self, x: torch.Tensor, y: torch.Tensor, loss_fn: Loss, optimizer: torch.optim.Optimizer,
                   weight: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward, loss, backward, optimizer step; (loss, logits), detached. `weight` scales this rank's
        loss before the gradients are averaged over the ranks, so that ranks with unequal parts of a
        batch still give the gradient of the batch's mean loss. A compiled model's first step is timed
        on its own, waiting for the device: its compilation is the warm-up (`warmup_seconds`)."""
        full = len(x) == self.full_batch
        warming = self.warming_up and full
        start = time.perf_counter()
        with self.precision.autocast(self.device):
            logits = (self._train if full else self.trained)(x)
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        weighted = loss * weight if weight != 1.0 else loss
        if self.scaler is None:
            weighted.backward()
            optimizer.step()
        else:
            self.scaler.scale(weighted).backward()
            self.scaler.step(optimizer)
            self.scaler.update()
        if warming:
            self.synchronize()
            self.warmup_seconds += time.perf_counter() - start
            self.warming_up = False
        return loss.detach(), logits.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits for evaluation (call in eval mode, under inference_mode)."""
        module = self._eval if len(x) == self.full_batch else self.model
        with self.precision.autocast(self.device):
            return module(x)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def state(self) -> dict:
        """What a resume needs beyond the weights and the optimizer: the fp16 loss scale."""
        return {"scaler": self.scaler.state_dict()} if self.scaler is not None else {}

    def load_state(self, state: dict) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
