"""Training speed of cnnlab against a hand-written loop and the usual DataLoader pipeline.

    .venv/bin/python benchmarks/bench_training_speed.py [--dataset mnist cifar10] [--repeats 3] [--epochs 1]
        [--batch-size 128] [--workers 0] [--threads N] [--data /tmp/cnnlab-bench] [--memory] [--quick]

--quick runs every part once on 500 + 100 images of each format (seconds; the test suite runs it):
its figures say that the benchmark works, not how fast anything is.

The same model (LeNet-5, experiments/lenet5_mnist.yaml), data, batch size and epochs; images per second of
  A  cnnlab's real code path: execute_run (what `cnnlab train` calls) with its Rich reporter, validation
     pass, metrics.csv and checkpoints every epoch, timed from the first epoch's start to the last
     epoch's end (data loading and the final test pass excluded: B and C have neither);
     A(loop) is the trainer's own figure, its training loop alone (summary.json images_per_second)
  B  the overhead floor: a minimal loop over preloaded, normalized float tensors (forward, loss,
     backward, step), the same model in the same memory layout as A (channels-last);
     B0 is the same loop in PyTorch's default layout, for reference (the naive tensor loop)
  C  the usual pipeline: torchvision dataset + [Pad(2)] + ToTensor() + Normalize() + DataLoader,
     shuffled, `--workers` worker processes (0 beat 1-2 on a 2-core machine), default memory layout
Repetitions are interleaved (A B B0 C, B B0 C A, ...) so that load from other processes hits all alike; the
medians are printed with A/B and A/C, and the medians of the ratios within one repetition (paired, so
less sensitive to load that drifts between repetitions). `--memory` also prints the peak resident memory of
`cnnlab train` on the MNIST-format data against `python -c "import torch, torchvision"`.

The data are synthetic (learnable class templates plus noise), written once under --data in the real
on-disk formats: 60,000 + 10,000 MNIST-format images in the IDX raw/ layout, 50,000 + 10,000
CIFAR-10-format images in pickle batches.
"""

from __future__ import annotations

import argparse
import functools
import io
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from rich.console import Console

from cnnlab import testing
from cnnlab.data.pipeline import load_data
from cnnlab.data.torchvision_sources import without_checksums
from cnnlab.models.builder import build_model
from cnnlab.run.execute import execute_run
from cnnlab.shape.plan import build_plan
from cnnlab.spec import RunSpec, Spec, load_spec
from cnnlab.train.progress import RichReporter

REPO = Path(__file__).resolve().parent.parent
EXPERIMENT = REPO / "experiments" / "lenet5_mnist.yaml"
DATASETS = {  # name → (train size, test size, --set overrides of the experiment)
    "mnist": (60_000, 10_000, []),
    "cifar10": (50_000, 10_000, ["data.dataset=cifar10", "data.pad=0"]),
}
QUICK_SIZES = (500, 100)  # --quick: images of each split


def data_root(args: argparse.Namespace, name: str) -> Path:
    """Where the synthetic images of `name` are (written once): --quick's fewer beside the full ones."""
    root = args.data / (f"{name}-quick" if args.quick else name)
    if not root.exists():
        n_train, n_test = QUICK_SIZES if args.quick else DATASETS[name][:2]
        testing.write_synthetic(name, root, n_train, n_test)
    return root


def experiment(name: str, root: Path, args: argparse.Namespace) -> Spec:
    threads = [f"train.threads={args.threads}"] if args.threads else []
    return load_spec(EXPERIMENT, [*DATASETS[name][2], f"data.root={root}", "data.download=false", *threads,
                                  f"train.epochs={args.epochs}", f"train.batch_size={args.batch_size}",
                                  "train.device=cpu"])


class TimedReporter(RichReporter):
    """The reporter `cnnlab train` uses (output to a buffer), noting when training starts and ends."""

    def __init__(self, store, epochs: int) -> None:
        super().__init__(Console(file=io.StringIO()), store, epochs)
        self.start = self.end = None

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        self.start = self.start or time.perf_counter()
        super().epoch_started(epoch, epochs, batches)

    def epoch_done(self, row) -> None:
        super().epoch_done(row)
        self.end = time.perf_counter()


def run_a(spec: Spec, runs_dir: Path) -> tuple[float, float]:
    """(images/s from first epoch start to last epoch end, the trainer's own loop images/s)."""
    reporters = []

    def make(store):
        reporters.append(TimedReporter(store, spec.train.epochs))
        return reporters[-1]

    # force: each repetition trains the same spec again, where it would be skipped as completed
    outcome = execute_run(RunSpec(spec), runs_dir, make, command=["bench"], force=True)
    assert outcome.status == "completed", outcome.error
    images = outcome.summary.split_sizes["train"] * spec.train.epochs
    return images / (reporters[0].end - reporters[0].start), outcome.summary.images_per_second


def lenet(spec: Spec, info) -> torch.nn.Module:
    return build_model(build_plan(spec.model, info), spec.model.init, spec.model.bias_init)


def sgd(spec: Spec, model: torch.nn.Module) -> torch.optim.Optimizer:
    o = spec.train.optimizer.options
    return torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], weight_decay=o["weight_decay"])


def run_b(spec: Spec, layout: torch.memory_format = torch.channels_last) -> float:
    """The hand-written floor: the training images as one normalized float tensor, then
    forward / loss / backward / step over shuffled batches; nothing else."""
    data = load_data(spec.data, spec.seed, torch.device("cpu"))  # the same images A trains on
    mean = torch.tensor(data.normalizer.mean).view(1, -1, 1, 1)
    std = torch.tensor(data.normalizer.std).view(1, -1, 1, 1)
    x_all = ((data.train.images.float() / 255 - mean) / std).contiguous(memory_format=layout)
    y_all = data.train.labels
    torch.manual_seed(spec.seed)
    model = lenet(spec, data.info).to(memory_format=layout)
    opt = sgd(spec, model)
    n, batch = len(y_all), spec.train.batch_size
    start = time.perf_counter()
    for _ in range(spec.train.epochs):
        order = torch.randperm(n)
        for i in range(0, n, batch):
            idx = order[i:i + batch]
            loss = F.cross_entropy(model(x_all[idx]), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return n * spec.train.epochs / (time.perf_counter() - start)


def run_c(spec: Spec, name: str, root: Path, workers: int) -> float:
    """What most PyTorch tutorials write: a torchvision dataset with per-image transforms and a DataLoader."""
    from torchvision import datasets, transforms

    data = load_data(spec.data, spec.seed, torch.device("cpu"))  # only for the same normalization
    steps = [transforms.Pad(spec.data.pad)] if spec.data.pad else []
    transform = transforms.Compose([*steps, transforms.ToTensor(),
                                    transforms.Normalize(data.normalizer.mean, data.normalizer.std)])
    if name == "mnist":
        dataset = datasets.MNIST(root, train=True, transform=transform)
    else:
        dataset = without_checksums(datasets.CIFAR10)(root, train=True, transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_size=spec.train.batch_size, shuffle=True,
                                         num_workers=workers, persistent_workers=workers > 0)
    torch.manual_seed(spec.seed)
    model = lenet(spec, data.info)
    opt = sgd(spec, model)
    start = time.perf_counter()
    for _ in range(spec.train.epochs):
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return len(dataset) * spec.train.epochs / (time.perf_counter() - start)


def peak_rss_mib(command: list[str]) -> float:
    """Peak resident memory of `command` (run in a fresh process that measures its child)."""
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
             "stdout=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024


def measure_memory(root: Path, runs_dir: Path, images: int) -> None:
    baseline = peak_rss_mib([sys.executable, "-c", "import torch, torchvision"])
    train = peak_rss_mib([sys.executable, "-m", "cnnlab", "train", str(EXPERIMENT), "--runs-dir", str(runs_dir),
                          "--set", f"data.root={root}", "--set", "data.download=false", "--set", "train.epochs=1",
                          "--set", "train.threads=1"])
    print(f"peak RSS: cnnlab train ({images:,} MNIST-format images, 1 epoch) {train:.0f} MiB; "
          f"import torch, torchvision {baseline:.0f} MiB; difference {train - baseline:.0f} MiB "
          f"(the uint8 images: {images * 32 * 32 / 2**20:.0f} MiB padded to 32×32)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", nargs="*", choices=list(DATASETS), default=list(DATASETS),
                        help="the data to time on; give none to measure only --memory")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes for C")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for all three (default: torch's)")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cnnlab-bench")
    parser.add_argument("--memory", action="store_true", help="also measure peak RSS of cnnlab train")
    parser.add_argument("--quick", action="store_true", help="every part once on little data: does it work?")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.epochs = 1, 1
    if args.threads:
        torch.set_num_threads(args.threads)

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as runs:
        for name in args.dataset:
            root = data_root(args, name)
            spec = experiment(name, root, args)
            runners = {
                "A": functools.partial(run_a, spec, Path(runs)),
                "B": functools.partial(run_b, spec),
                "B0": functools.partial(run_b, spec, torch.contiguous_format),
                "C": functools.partial(run_c, spec, name, root, args.workers),
            }
            results: dict[str, list] = {key: [] for key in runners}
            for rep in range(args.repeats):
                keys = list(runners)[rep % len(runners):] + list(runners)[:rep % len(runners)]
                for key in keys:
                    results[key].append(runners[key]())
                print(f"  {name} repetition {rep + 1}: " + "  ".join(
                    f"{k} {v[-1][0] if isinstance(v[-1], tuple) else v[-1]:,.0f}" for k, v in results.items()))
            a = statistics.median(r[0] for r in results["A"])
            a_loop = statistics.median(r[1] for r in results["A"])
            b, b0, c = (statistics.median(results[k]) for k in ("B", "B0", "C"))
            paired = {k: statistics.median(r[0] / o for r, o in zip(results["A"], results[k], strict=True))
                      for k in ("B", "C")}
            print(f"{name}: LeNet-5, batch {args.batch_size}, {args.epochs} epoch(s), median of {args.repeats} "
                  f"(images/s): A {a:,.0f} (loop {a_loop:,.0f})  B {b:,.0f}  B0 {b0:,.0f}  C {c:,.0f} "
                  f"({args.workers} workers)  "
                  f"A/B {a / b:.2f} (target >= 0.90)  A/C {a / c:.2f} (target >= 4)  "
                  f"A(loop)/B {a_loop / b:.2f}; median of the ratios within a repetition: "
                  f"A/B {paired['B']:.2f}  A/C {paired['C']:.2f}")
        if args.memory:
            measure_memory(data_root(args, "mnist"), Path(runs), QUICK_SIZES[0] if args.quick else DATASETS["mnist"][0])
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
