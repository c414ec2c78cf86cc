"""Whether a run can fit in this machine at all, before any run directory exists: its weights, one
batch's activations and its preloaded images against the machine's memory, and against its GPU's
where it trains on one. Torch-free: the sizes come from the shape analysis, the machine's from
cnnlab.util.memory.

Only what certainly cannot fit is refused, so every figure is a lower bound: the weights counted
once in float32 (their gradients and the optimizer's state need as much again, and more), the
activations of one batch in the narrowest float the run may compute in, the images as the uint8
tensors they are preloaded into. A refusal names the key that makes the size.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from math import prod

from cnnlab.shape.analysis import Analysis
from cnnlab.shape.layers import shape_text
from cnnlab.spec import DataSpec, SpecError, TrainSpec
from cnnlab.util.memory import gpu_memory, machine_memory
from cnnlab.util.text import binary_size

FLOAT32, HALF, UINT8 = 4, 2, 1  # bytes per value


@dataclass(frozen=True)
class Room:
    """The memory a run's tensors must fit in: `bytes`, the GPU's where it trains on one."""

    bytes: int
    gpu: bool

    @classmethod
    def of(cls, train: TrainSpec) -> Room:
        """The memory of a run's device: the machine's, and where it may train on a GPU the largest
        GPU's if that is less (its weights are built in the machine's memory first)."""
        ram = machine_memory()
        gpu = gpu_memory() if train.device == "auto" or train.device.startswith("cuda") else None
        return cls(gpu, True) if gpu is not None and gpu < ram else cls(ram, gpu is not None)

    def check(self, need: int, problem: str) -> None:
        if need > self.bytes:
            what = "the GPU's memory" if self.gpu else "this machine's memory"
            raise SpecError(f"{problem} need {binary_size(need)}, more than {what} ({binary_size(self.bytes)})")


def check_memory(analysis: Analysis, keys: Mapping[str, str], data: DataSpec, train: TrainSpec,
                 images: int | None) -> None:
    """SpecError (one line naming the key) for a run whose input images, preloaded `images` (when the
    dataset declares how many), weights or activations of one batch cannot fit in its device's memory.
    Each check names what makes the size: one image, then the batch, then a layer, then the model."""
    room = Room.of(train)
    value = HALF if train.precision in ("bf16", "fp16") or (train.precision == "auto" and room.gpu) else FLOAT32
    image, source = prod(analysis.input_shape), input_key(data, analysis.input_shape)
    shown = shape_text(analysis.input_shape)
    room.check(value * image, f"{source}: the values of one {shown} image")
    if images is not None:
        room.check(UINT8 * images * image, f"{source}: its {images:,} images of {shown}, preloaded,")
    batch = -(-train.batch_size // int(os.environ.get("WORLD_SIZE", "1")))  # each process's part under torchrun
    room.check(value * batch * image, f"train.batch_size: one batch of {batch:,} {shown} images")
    for row in analysis.rows:
        room.check(FLOAT32 * row.params, f"{keys[row.name]} (layer {row.name}): its {row.params:,} parameters")
    room.check(FLOAT32 * analysis.params, f"model: its {analysis.params:,} parameters")
    for row in analysis.rows:
        outputs = f"its {shape_text(row.out_shape)} outputs for one batch of {batch:,}"
        room.check(value * batch * prod(row.out_shape), f"{keys[row.name]} (layer {row.name}): {outputs}")
    room.check(value * batch * analysis.activation_elements,
               f"train.batch_size: the activations of one batch of {batch:,} ({analysis.activation_elements:,} values "
               f"an image)")


def input_key(data: DataSpec, shape: tuple[int, ...]) -> str:
    """The key that makes the model's input as large as it is: data.pad where the padding is most of
    it, else data.resize if given, else the dataset itself."""
    if 2 * data.pad > max(shape[1:], default=0) // 2:
        return "data.pad"
    return "data.resize" if data.resize is not None else "data.dataset"
