"""The experiment spec's schema: typed sections with their defaults, checked once at the edge.

Every key has a default and a short trailing comment saying what it is; `cnnlab train --dry-run`
shows the resolved values. The value types (registry choices, pairs, paddings) are in
cnnlab.spec.types.
"""

from __future__ import annotations

import re
from math import prod
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from cnnlab.spec.claims import ClaimError, parse_claim
from cnnlab.spec.types import (
    MAX_RUNS,
    BiasInit,
    Choice,
    Fraction,
    HeadName,
    NonNegativeInt,
    NonNegativePair,
    Padding,
    PoolName,
    PositiveInt,
    PositivePair,
    Precision,
    PresetName,
    Section,
    Seed,
    Threads,
    Values,
    of_kind,
    safe_name,
    some_values,
)
from cnnlab.util.reading import SPEC_BYTES
from cnnlab.util.text import short_repr


class PoolSpec(Section):
    type: PoolName = "max"  # max | avg | subsample (LeNet-5)
    kernel_size: PositivePair = (2, 2)  # window size
    stride: PositivePair | None = None  # null: the kernel size, as in PyTorch (filled in when resolved)
    padding: NonNegativePair = (0, 0)  # implicit padding (-inf for max, zeros for avg and subsample)
    dilation: PositivePair = (1, 1)  # spacing of the window (max pooling only)
    ceil_mode: bool = False  # round the output size up instead of down

    @model_validator(mode="after")
    def _complete(self) -> PoolSpec:
        if self.type != "max" and self.dilation != (1, 1):
            raise ValueError(f"dilation: {self.type} pooling has no dilation (nor has PyTorch's average pooling); "
                             "use type: max or dilation: 1")
        if self.stride is None:
            self.stride = self.kernel_size
        return self


class ConvSpec(Section):
    out_channels: PositiveInt  # output depth: the number of filters
    kernel_size: PositivePair = (3, 3)  # int or [height, width]
    stride: PositivePair = (1, 1)  # step between windows
    padding: Padding = (0, 0)  # int, [h, w], 'same' (stride 1 only) or 'valid' (= 0)
    dilation: PositivePair = (1, 1)  # spacing between kernel taps; effective size d·(k−1)+1
    groups: PositiveInt = 1  # grouped convolution; in and out channels must divide by it
    connections: str | list[list[NonNegativeInt]] | None = None  # null: all; lenet5 (C3), or inputs per output
    pool: PoolSpec | None = None  # pooling after this block's activation

    @model_validator(mode="after")
    def _same_needs_stride_one(self) -> ConvSpec:
        if self.padding == "same" and self.stride != (1, 1):
            raise ValueError("padding: 'same' works only with stride 1 (PyTorch's rule); give a number instead")
        return self


class ModelSpec(Section):
    preset: PresetName | None = None  # lenet5 | lenet5_classic | vgg_small | mlp ...; keys below override it
    kind: Literal["cnn", "mlp"] = "cnn"  # mlp: flatten → fully-connected layers only (conv is ignored)
    activation: Annotated[Choice, of_kind("activation")] = "relu"  # nonlinearity after every hidden layer
    init: Annotated[Choice, of_kind("init")] = "kaiming_normal"  # weight initialization of conv and linear layers
    bias_init: BiasInit | None = None  # null: zeros (with init: default, PyTorch's own)
    norm: Annotated[Choice, of_kind("norm")] = "batch"  # conv maps (mlp: hidden layers); batch, instance: no bias
    norm_position: Literal["before", "after"] = "before"  # norm before or after the activation
    conv: list[ConvSpec] = [  # the conv blocks, in order: the list is the depth
        {"out_channels": 32, "kernel_size": 3, "padding": "same", "pool": {"type": "max", "kernel_size": 2}},
        {"out_channels": 64, "kernel_size": 3, "padding": "same", "pool": {"type": "max", "kernel_size": 2}},
    ]
    global_pool: bool = False  # global average pooling instead of flattening before the fc layers
    fc: list[PositiveInt] = [128]  # hidden fully-connected widths
    dropout: Fraction = 0.0  # dropout probability before every fully-connected layer
    head: HeadName = "softmax"  # softmax (C logits) | sigmoid (1 logit, 2 classes) | sigmoid_ovr (1 per class)


class NormalizeStats(Section):
    mean: list[float]  # per channel
    std: list[Annotated[float, Field(gt=0)]]  # per channel

    @model_validator(mode="after")
    def _same_length(self) -> NormalizeStats:
        if len(self.mean) != len(self.std):
            raise ValueError(f"mean has {len(self.mean)} values but std has {len(self.std)}")
        return self


ClassRef = Annotated[int, Field(strict=True)] | str  # a class by index (0, 1 ...) or by name (cat)


class BinarySpec(Section):
    positive: list[ClassRef]  # the classes labelled 1; every other (kept) class is labelled 0


def _augment_list(value: Any) -> Any:
    """`augment: none` and a single step are accepted for the list."""
    if value is None or value == "none":
        return []
    return [value] if isinstance(value, (str, dict)) else value


AugmentStep = Annotated[Choice, of_kind("augmentation")]


class DataSpec(Section):
    dataset: Annotated[Choice, of_kind("dataset")] = "shapes"  # a name, or {name: csv, train: PATH, ...} (docs/data.md)
    root: str = "data"  # where datasets live / are downloaded to; cnnlab's caches go in root/.cnnlab-cache
    download: bool = True  # download a missing torchvision dataset
    normalize: Literal["none", "center", "dataset"] | NormalizeStats = "dataset"  # center: mean only; or {mean, std}
    val_fraction: Fraction = 0.1  # share of the training split held out for validation (seeded, stratified)
    subset: PositiveInt | None = None  # use N images per split, drawn by seed (test: same for every run); null: all
    classes: list[ClassRef] | None = None  # keep only these classes (indices or names), relabelled 0..k-1 in order
    binary: BinarySpec | None = None  # one class against the rest, for head: sigmoid; e.g. {positive: [cat]}
    resize: PositivePair | None = None  # resize every image once at load (bilinear): int or [height, width]
    pad: Annotated[int, Field(strict=True, ge=0)] = 0  # zero padding around every image (28×28 + 2 → 32×32)
    augment: Annotated[list[AugmentStep], BeforeValidator(_augment_list)] = []  # training batches: random_crop, hflip


class DiagnosticsSpec(Section):
    probe: PositiveInt = 128  # images of the fixed probe batch (drawn from the training split by seed)
    every: NonNegativeInt = 1  # record at init and every N epochs (and the last); 0: off
    steps: PositiveInt | None = None  # percentiles every N optimizer steps; null: about 20 a run, ending each epoch


class TrainSpec(Section):
    epochs: PositiveInt = 10  # passes over the training split
    batch_size: PositiveInt = 128  # images per optimizer step; under torchrun the global batch, split across processes
    optimizer: Annotated[Choice, of_kind("optimizer")] = "sgd"  # sgd | adam | adamw | rmsprop, with options
    scheduler: Annotated[Choice, of_kind("scheduler")] = "cosine"  # none | step | cosine | onecycle, per batch
    monitor: Literal["val_acc", "val_loss"] = "val_acc"  # picks best.pt, drives early stopping (no val split: last)
    patience: PositiveInt | None = None  # stop after this many epochs without improvement; null: never
    min_delta: Annotated[float, Field(ge=0)] = 0.0  # smallest change that counts as an improvement
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    threads: Threads | None = None  # CPU threads for torch; null: torch's default (the physical cores)
    channels_last: bool = True  # NHWC memory layout for conv nets (faster on CPU and on tensor cores)
    diagnostics: DiagnosticsSpec = Field(default_factory=DiagnosticsSpec)  # per-layer statistics: cnnlab inspect
    precision: Precision = "auto"  # auto (bf16 on a GPU that has it, else fp32) | fp32 | bf16 | fp16 (loss-scaled)
    compile: bool = False  # torch.compile the model (GPU; its warm-up is timed apart from images/s)
    deterministic: bool = False  # GPU runs repeat bit for bit: no cuDNN autotuning, deterministic kernels (slower)
    sync_bn: bool = True  # under torchrun, batch norm statistics over the global batch (as one process would)
    tensorboard: bool = False  # stream epochs into the run's tensorboard/ folder (pip install 'cnnlab[tensorboard]')

    @model_validator(mode="after")
    def _device_syntax(self) -> TrainSpec:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            raise ValueError(f"device: expected auto, cpu, cuda, cuda:N or mps, got {short_repr(self.device)}")
        return self


EXPERIMENT_KEYS = {"sweep", "seeds", "description", "claims"}  # of the experiment, not of its runs


class Spec(Section):
    name: Annotated[str, AfterValidator(lambda v: safe_name(v))] = "experiment"  # runs go to runs/<name>/
    seed: Seed = 0  # seeds data split, init, shuffling and augmentation (0 ≤ seed < 2³²)
    data: DataSpec = Field(default_factory=DataSpec)  # what to train on
    model: ModelSpec = Field(default_factory=ModelSpec)  # the network
    train: TrainSpec = Field(default_factory=TrainSpec)  # how to train it
    sweep: dict[str, Values] = {}  # dotted key → values; every combination becomes one run
    seeds: Annotated[list[Seed], AfterValidator(some_values)] | None = None  # repeat every combination once per seed
    description: Annotated[str, Field(max_length=SPEC_BYTES)] = ""  # what the experiment shows, in a sentence or two
    claims: list[str] = []  # what the runs should show, checked by `cnnlab report`; see cnnlab/spec/claims.py

    @model_validator(mode="after")
    def _early_stopping_needs_validation(self) -> Spec:
        if self.train.patience is not None and self.data.val_fraction == 0:
            raise ValueError("train.patience: early stopping watches the validation split, but data.val_fraction "
                             "is 0; hold some data out (e.g. val_fraction: 0.1) or leave patience out")
        return self

    @model_validator(mode="after")
    def _claims_name_swept_values(self) -> Spec:
        for i, text in enumerate(self.claims):
            try:
                parse_claim(text, self.sweep)
            except ClaimError as err:
                raise ValueError(f"claims[{i}]: {err}") from None
        return self

    @model_validator(mode="after")
    def _runs_within_bound(self) -> Spec:
        counts = [len(values) for values in self.sweep.values()] + [len(self.seeds or [self.seed])]
        if prod(counts) > MAX_RUNS:
            shown = " × ".join(str(n) for n in counts)
            raise ValueError(f"sweep: {shown} = {prod(counts):,} runs; one spec makes at most {MAX_RUNS:,}: "
                             f"split the experiment into several specs")
        return self

    def resolved(self) -> dict[str, Any]:
        """The fully resolved spec of one run as plain data (what spec.yaml holds)."""
        return self.model_dump(mode="json", exclude=EXPERIMENT_KEYS)


