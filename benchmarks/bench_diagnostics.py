"""What the per-layer diagnostics and the distributions cost: their time as a share of training time.

    .venv/bin/python benchmarks/bench_diagnostics.py [--workload quickstart lenet5_mnist] [--repeats 3]
        [--epochs N] [--threads N] [--data /tmp/cnnlab-bench] [--set KEY=VALUE ...] [--quick]

Each workload trains through cnnlab's real code path (execute_run, what `cnnlab train` calls) twice per
repetition, each time in a fresh process as `cnnlab train` would, with diagnostics on (the default: a
probe batch of 128 images at init and after every epoch, for diagnostics.csv and the histograms of
distributions.csv, and a forward pass over it on the percentiles' steps, about 20 in the run, the
last of each epoch taken by the epoch's pass) and off (`train.diagnostics.every: 0`), the order
alternating between repetitions. Reported, as medians:
  overhead  the CPU time spent in Diagnostics.record (init included) and Diagnostics.after_step over
            the CPU time of training (the epochs without the after_step calls inside them) in the same
            run: the figure the 5% budget is about, measured inside one run (CPU time, so that other
            processes' load does not count; one torch thread by default, so that no thread spins
            waiting for another); beside it, the share of the percentiles' steps alone and that of the
            passes over the probe alone (Diagnostics._probe, forward and backward: the floor that no
            saving in what is computed from them can go below)
  on/off    the whole run's wall time with diagnostics over without (noisier: two runs)
Workloads: `quickstart` (experiments/quickstart.yaml: shapes, 7,200 training images, a small CNN with
batch norm) and `lenet5_mnist` (experiments/lenet5_mnist.yaml on 60,000 synthetic MNIST-format images
written under --data in the IDX layout). --quick: one repetition of one epoch on 1,000 images of each (the
test suite runs it: the benchmark works, its figures mean nothing).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console

from cnnlab import testing
from cnnlab.run.execute import execute_run
from cnnlab.spec import RunSpec, Spec, load_spec
from cnnlab.train import diagnostics
from cnnlab.train.loop import Trainer
from cnnlab.train.progress import RichReporter

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = {
    "quickstart": (REPO / "experiments" / "quickstart.yaml", []),
    "lenet5_mnist": (REPO / "experiments" / "lenet5_mnist.yaml", ["data.download=false"]),
}
QUICK = {"quickstart": ["data.dataset.train_size=1000", "data.dataset.test_size=200"], "lenet5_mnist": []}
MNIST_SIZES, QUICK_SIZES = (60_000, 10_000), (1_000, 200)  # MNIST-format images written: train, test


class Timed:
    """Adds up the CPU seconds of this process spent in a method (wall time on a machine shared with
    other processes measures their load as much as ours)."""

    def __init__(self, cls: type, name: str) -> None:
        self.cls, self.name = cls, name
        self.seconds = 0.0
        self.original = getattr(cls, name)

    def __enter__(self) -> Timed:
        original, timed = self.original, self

        def timed_method(self, *args, **kwargs):
            start = time.process_time()
            try:
                return original(self, *args, **kwargs)
            finally:
                timed.seconds += time.process_time() - start

        setattr(self.cls, self.name, timed_method)
        return self

    def __exit__(self, *exc) -> None:
        setattr(self.cls, self.name, self.original)


def spec_for(name: str, args: argparse.Namespace, on: bool) -> Spec:
    path, extra = WORKLOADS[name]
    overrides = [*extra, *(QUICK[name] if args.quick else []), *args.set, "train.device=cpu",
                 f"train.diagnostics.every={1 if on else 0}"]
    if name == "lenet5_mnist":
        root = args.data / ("mnist-quick" if args.quick else "mnist")
        if not root.exists():
            testing.write_synthetic("mnist", root, *(QUICK_SIZES if args.quick else MNIST_SIZES))
        overrides.append(f"data.root={root}")
    if args.epochs:
        overrides.append(f"train.epochs={args.epochs}")
    if args.threads:
        overrides.append(f"train.threads={args.threads}")
    return load_spec(path, overrides)


def run(spec: Spec, runs_dir: Path) -> tuple[float, float, float, float, float]:
    """(CPU seconds in the epochs' diagnostics, in the steps' percentiles, CPU seconds of training
    without them, wall seconds of the whole run, CPU seconds of the probe passes within the first two)."""
    with Timed(diagnostics.Diagnostics, "record") as probe, Timed(diagnostics.Diagnostics, "after_step") as steps, \
            Timed(Trainer, "train_epoch") as epochs, Timed(diagnostics.Diagnostics, "_probe") as passes:
        start = time.perf_counter()
        outcome = execute_run(RunSpec(spec), runs_dir, lambda store: RichReporter(Console(file=io.StringIO()), store,
                                                                         spec.train.epochs), command=["bench"],
                              force=True)  # each repetition trains again: the same spec, every time
        wall = time.perf_counter() - start
    assert outcome.status == "completed", outcome.error
    return probe.seconds, steps.seconds, epochs.seconds - steps.seconds, wall, passes.seconds


def measure(name: str, args: argparse.Namespace, on: bool) -> tuple[float, ...]:
    """`run` in a fresh process, as `cnnlab train` runs: a process that trained before holds its
    garbage (each collection takes longer) and its heap as that run left them (measured: the epochs'
    records took up to twice as long in the second run of a process)."""
    command = [sys.executable, __file__, "--child", name, "on" if on else "off", "--threads", str(args.threads),
               "--data", str(args.data), *(["--epochs", str(args.epochs)] if args.epochs else []),
               *(f"--set={override}" for override in args.set),
               *(["--quick"] if args.quick else [])]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"the {name} run failed:\n{done.stderr[-3000:]}")
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workload", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="default: the experiment's")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cnnlab-bench")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a spec override for both runs, e.g. train.diagnostics.probe=64 (a cheaper setting)")
    parser.add_argument("--quick", action="store_true", help="one epoch once on little data: does it work?")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "ON"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        with tempfile.TemporaryDirectory() as runs:
            print(json.dumps(run(spec_for(args.child[0], args, args.child[1] == "on"), Path(runs))))
        return
    if args.quick:
        args.repeats, args.epochs = 1, 1
    print(f"{os.cpu_count()} CPUs, torch {torch.__version__}; load average {os.getloadavg()[0]:.2f}")
    for name in args.workload:
        overhead, percentiles, probe_passes, on_off = [], [], [], []
        for rep in range(args.repeats):
            times = {}
            for on in ((True, False) if rep % 2 == 0 else (False, True)):
                times[on] = measure(name, args, on)
            epoch_records, step_records, training, wall, passes = times[True]
            overhead.append((epoch_records + step_records) / training)
            percentiles.append(step_records / training)
            probe_passes.append(passes / training)
            on_off.append(wall / times[False][3])
            print(f"  {name} repetition {rep + 1}: diagnostics {epoch_records:.2f} s at epochs + "
                  f"{step_records:.2f} s at steps over training {training:.1f} s CPU ({overhead[-1]:.1%}; "
                  f"the probe passes {passes:.2f} s, {probe_passes[-1]:.1%}); "
                  f"run wall time on {wall:.1f} s, off {times[False][3]:.1f} s")
        print(f"{name}: median overhead {statistics.median(overhead):.1%} of training time (target <= 5%; "
              f"the steps' percentiles {statistics.median(percentiles):.1%}, the probe passes alone "
              f"{statistics.median(probe_passes):.1%}), "
              f"median wall time on/off {statistics.median(on_off):.3f}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
