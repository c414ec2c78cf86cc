"""Training speed on a GPU: cnnlab's training loop against a minimal hand-written PyTorch loop, the same
model, data and batch, at fp32 / bf16 / bf16 + channels-last / + torch.compile.

    python benchmarks/gpu.py            # a CUDA GPU: under 5 minutes on one H100
    python benchmarks/gpu.py --small    # little data and a narrow net: runs (slowly) on a CPU
    python benchmarks/gpu.py --quick    # --small on less, fp32 and bf16 + channels-last only: does it work?

Two models:
  LeNet-5 (experiments/lenet5_mnist.yaml) on 60,000 MNIST-format images (28×28 padded to 32×32), batch 128;
  an airbench-style CIFAR-10 net (Jordan, 2024: a 2×2 conv stem, three blocks of two 3×3 convs 64, 256
  and 256 wide, max pooling, batch norm, GELU, global pooling; ~2M parameters) on 50,000 CIFAR-10-format
  images, batch 512.
The data are synthetic (class templates plus noise), written once under --data in the real on-disk
formats (IDX files, pickled CIFAR batches) and loaded through cnnlab's own pipeline.

  cnnlab  cnnlab.train.loop.Trainer, set up as `cnnlab train` sets it up (uint8 data on the device,
          normalized batch by batch, the scheduler stepped, metrics kept on the device), its epochs run
          by `train_epoch` (no validation: the hand loop has none).
  hand    the floor: the training images as one normalized float tensor on the device, a random order
          drawn there, then forward (under autocast for bf16), cross-entropy, backward, step; the last
          incomplete batch dropped. The same nn.Module, initial weights, SGD (fused on a GPU, as cnnlab
          builds it), cuDNN autotuning and memory format.

Images per second are measured over epochs 2..E (the first is warm-up for both: cuDNN autotuning, the
allocator, compilation). For + compile the first step's compilation is shown apart (cnnlab reports
it in summary.json as compile_seconds); cnnlab compiles first, and the hand loop's compilation of the
same graph is then mostly served by inductor's cache on disk, so only cnnlab's is a cold start.
Peak memory is the most the process's tensors held on the GPU (the hand loop keeps a float copy of
the data, cnnlab the uint8 images). Settings run in turn, each cnnlab run next to its hand-loop twin,
so that drift hits both; --repeats N gives medians.
Goals: cnnlab >= 0.95x the hand loop at every setting; bf16 + channels-last >= 2x fp32 on the CIFAR net.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from cnnlab import testing
from cnnlab.data.pipeline import load_data
from cnnlab.models.builder import build_model
from cnnlab.shape.plan import build_plan
from cnnlab.spec import Spec, load_spec, resolve
from cnnlab.train.loop import Trainer
from cnnlab.train.progress import QuietReporter

REPO = Path(__file__).resolve().parent.parent
SETTINGS = {  # name → (precision, channels_last, compile)
    "fp32": ("fp32", False, False),
    "bf16": ("bf16", False, False),
    "bf16+cl": ("bf16", True, False),
    "bf16+cl+compile": ("bf16", True, True),
}


def airbench(width: int) -> dict:
    """The airbench94 layout (conv widths 64, 256, 256 at width 64) as a cnnlab model spec."""
    def conv(channels: int, pool: bool = False) -> dict:
        block = {"out_channels": channels, "kernel_size": 3, "padding": "same"}
        return {**block, "pool": {"type": "max", "kernel_size": 2}} if pool else block

    wide = 4 * width
    return {"activation": "gelu", "norm": "batch", "global_pool": True, "fc": [],
            "conv": [{"out_channels": width * 3 // 8, "kernel_size": 2}, conv(width, True), conv(width),
                     conv(wide, True), conv(wide), conv(wide, True), conv(wide)]}


@dataclass(frozen=True)
class Model:
    name: str
    dataset: str
    train: int
    test: int
    batch: int
    spec: dict  # the experiment (before the benchmark's own keys)


def models(small: bool, quick: bool = False) -> list[Model]:
    lenet = load_spec(REPO / "experiments" / "lenet5_mnist.yaml").resolved()
    cifar = {"name": "airbench_cifar10", "data": {"dataset": "cifar10"},
             "model": airbench(16 if small else 64),
             "train": {"optimizer": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}}}
    if quick:
        return [Model("LeNet-5", "mnist", 128, 32, 32, lenet), Model("airbench-style", "cifar10", 64, 16, 32, cifar)]
    if small:
        return [Model("LeNet-5", "mnist", 2_000, 200, 64, lenet),
                Model("airbench-style", "cifar10", 1_000, 100, 64, cifar)]
    return [Model("LeNet-5", "mnist", 60_000, 10_000, 128, lenet),
            Model("airbench-style", "cifar10", 50_000, 10_000, 512, cifar)]


def run_spec(model: Model, root: Path, setting: str, epochs: int, device: str) -> Spec:
    precision, channels_last, compile = SETTINGS[setting]
    raw = {**model.spec, "data": {**model.spec.get("data", {}), "root": str(root), "download": False,
                                  "val_fraction": 0.0, "augment": []},
           "train": {**model.spec.get("train", {}), "epochs": epochs, "batch_size": model.batch, "device": device,
                     "precision": precision, "channels_last": channels_last, "compile": compile}}
    return resolve(raw)


@dataclass
class Measured:
    images_per_second: float
    peak_memory: int | None  # bytes
    compile_seconds: float | None


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak(device: torch.device) -> int | None:
    return torch.cuda.max_memory_allocated(device) if device.type == "cuda" else None


def fresh() -> None:
    """Nothing of the previous run left: its tensors freed, its compiled graphs dropped (each run
    compiles, and measures, its own)."""
    gc.collect()
    torch._dynamo.reset()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_cnnlab(spec: Spec) -> Measured:
    fresh()
    trainer = Trainer(spec, None, QuietReporter())
    trainer.setup()  # resets the peak memory statistics
    trainer.train_epoch(1)  # warm-up
    warm_images, start = trainer.train_images, time.perf_counter()
    for epoch in range(2, spec.train.epochs + 1):
        trainer.train_epoch(epoch)  # ends reading the epoch's figures: the device has finished
    elapsed = time.perf_counter() - start
    compiled = trainer.engine.warmup_seconds if spec.train.compile else None
    return Measured((trainer.train_images - warm_images) / elapsed, peak(trainer.device), compiled)


def run_hand(spec: Spec) -> Measured:
    """The minimal loop a person tuning by hand would write (see the module's docstring)."""
    fresh()
    device = torch.device(spec.train.device)
    torch.backends.cudnn.benchmark = True
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    data = load_data(spec.data, spec.seed, device)  # the same images cnnlab trains on
    mean = torch.tensor(data.normalizer.mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(data.normalizer.std, device=device).view(1, -1, 1, 1)
    layout = torch.channels_last if spec.train.channels_last else torch.contiguous_format
    x_all = ((data.train.images.float() / 255 - mean) / std).contiguous(memory_format=layout)
    y_all, info = data.train.labels, data.info
    del data  # the uint8 images: the hand loop keeps its float copy only
    torch.manual_seed(spec.seed)
    model = build_model(build_plan(spec.model, info), spec.model.init, spec.model.bias_init)
    model = model.to(device, memory_format=layout)
    o = spec.train.optimizer.options
    opt = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"],
                          fused=True if device.type == "cuda" else None)
    step_model = torch.compile(model) if spec.train.compile else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=spec.train.precision == "bf16")
    n, batch = len(y_all), spec.train.batch_size
    seconds, compile_seconds = [], None
    for _ in range(spec.train.epochs):
        synchronize(device)
        start = time.perf_counter()
        order = torch.randperm(n, device=device)
        for i in range(0, n - batch + 1, batch):
            idx = order[i:i + batch]
            with autocast:
                loss = F.cross_entropy(step_model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if spec.train.compile and compile_seconds is None:
                synchronize(device)
                compile_seconds = time.perf_counter() - start
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    timed = (n // batch) * batch * (spec.train.epochs - 1)
    return Measured(timed / sum(seconds[1:]), peak(device), compile_seconds)


def mib(value: int | None) -> str:
    return "—" if value is None else f"{value / 2**20:,.0f}"


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", action="store_true", help="little data and a narrow CIFAR net (for a CPU)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run; the first is not timed")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setting (medians)")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS))
    parser.add_argument("--models", nargs="+", choices=["LeNet-5", "airbench-style"],
                        default=["LeNet-5", "airbench-style"])
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cnnlab-gpu-bench")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    parser.add_argument("--quick", action="store_true", help="--small on less data, 2 epochs, fp32 and bf16+cl: "
                                                             "does it work? (the test suite runs it)")
    args = parser.parse_args()
    if args.quick:
        args.small, args.epochs, args.repeats = True, 2, 1
        args.settings = [s for s in args.settings if s in ("fp32", "bf16+cl")]
    if args.epochs < 2:
        parser.error("--epochs: at least 2 (the first is warm-up)")
    cuda = torch.cuda.is_available()
    if not cuda and not args.small:
        parser.error("no CUDA GPU here: --small runs a small version on the CPU")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = "cuda" if cuda else "cpu"
    where = torch.cuda.get_device_name(0) if cuda else f"{platform.processor() or platform.machine()} CPU, " \
        f"{torch.get_num_threads()} threads"
    print(f"{where}; torch {torch.__version__}" + (f", CUDA {torch.version.cuda}" if cuda else "") +
          f"; {args.epochs} epochs a run (epoch 1 not timed), {args.repeats} repeat(s); "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    began = time.perf_counter()
    rows, speeds = [], {}
    for model in (m for m in models(args.small, args.quick) if m.name in args.models):
        root = args.data / f"{model.dataset}-{model.train}"
        if not root.exists():
            testing.write_synthetic(model.dataset, root, model.train, model.test)
        for setting in args.settings:
            spec = run_spec(model, root, setting, args.epochs, device)
            ours, hand = [], []
            for _ in range(args.repeats):
                ours.append(run_cnnlab(spec))
                hand.append(run_hand(spec))
            a = statistics.median(m.images_per_second for m in ours)
            b = statistics.median(m.images_per_second for m in hand)
            speeds.setdefault(model.name, {})[setting] = a
            rows.append([model.name, setting, f"{a:,.0f}", f"{b:,.0f}", f"{a / b:.2f}", mib(ours[-1].peak_memory),
                         mib(hand[-1].peak_memory), seconds(ours[-1].compile_seconds),
                         seconds(hand[-1].compile_seconds)])
            print(f"  {model.name} {setting}: cnnlab {a:,.0f} images/s, hand loop {b:,.0f} ({a / b:.2f}x)", flush=True)
    headers = ["model", "setting", "cnnlab img/s", "hand img/s", "cnnlab/hand", "cnnlab MiB", "hand MiB",
               "cnnlab compile s", "hand compile s"]
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    print()
    for row in [headers, *rows]:
        cells = enumerate(zip(row, widths, strict=True))
        print("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w) for i, (c, w) in cells))
    for name, by_setting in speeds.items():
        if "fp32" in by_setting and "bf16+cl" in by_setting:
            print(f"{name}: bf16+channels-last / fp32 (cnnlab) = {by_setting['bf16+cl'] / by_setting['fp32']:.2f}x")
    print(f"(goals: cnnlab/hand >= 0.95 everywhere; bf16+cl / fp32 >= 2 on the CIFAR net on a GPU) "
          f"total {time.perf_counter() - began:.0f} s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
