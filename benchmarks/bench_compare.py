"""How long `cnnlab compare` takes over 1,000 run directories, whole process (start-up included).

Writes synthetic runs in the trainer's format (fully resolved spec.yaml, meta.json, 10-epoch
metrics.csv, summary.json) into a temporary directory: 10 sweep groups with different base specs,
each 5 activations × 5 learning rates × 4 seeds (250 configurations); and a second set in which
every run has a spec of its own (the worst case for parsing). Then times every command in
rounds (round-robin, so that a drifting machine slows all alike) and prints per command the median
wall time, the median CPU time of the process (on a shared machine CPU time shows what load does to
the wall time) and the ratio to `python -c "import typer"`, the floor of any Typer command.

    .venv/bin/python benchmarks/bench_compare.py [--runs 1000] [--repeat 7] [--quick]

--quick: 20 runs, one round (the test suite runs it: the benchmark works, its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "gelu")
LEARNING_RATES = (0.003, 0.01, 0.03, 0.1, 0.3)
SEEDS = 4
EPOCHS = 10

# The shape of a real resolved spec (quickstart.yaml after defaults), so YAML parsing costs what it will.
SPEC = """\
name: {name}
seed: {seed}
data:
  dataset:
    name: shapes
    train_size: {train_size}
    test_size: 2000
    image_size: 28
    channels: 1
    min_scale: 0.35
    max_scale: 0.9
    position_jitter: 1.0
    max_rotation: 15.0
    thickness: 0.07
    min_contrast: 0.35
    noise: {noise}
    clutter: 3
  root: data
  download: true
  normalize: dataset
  val_fraction: 0.1
  pad: 0
model:
  preset: null
  kind: cnn
  activation:
    name: {activation}
  init:
    name: kaiming_normal
    mode: fan_in
  bias_init: null
  norm:
    name: batch
    eps: 1.0e-05
    momentum: 0.1
  norm_position: before
  conv:
{conv}  global_pool: false
  fc: [64]
  dropout: 0.0
  head: softmax
train:
  epochs: {epochs}
  batch_size: 64
  optimizer:
    name: sgd
    lr: {lr}
    momentum: 0.9
    weight_decay: 0.0005
    nesterov: false
  scheduler:
    name: cosine
    min_lr: 0.0
  monitor: val_acc
  patience: null
  min_delta: 0.0
  device: auto
  threads: null
  channels_last: true
"""
CONV_LAYER = """\
  - out_channels: {channels}
    kernel_size: [3, 3]
    stride: [1, 1]
    padding: same
    dilation: [1, 1]
    groups: 1
    pool:
      type: max
      kernel_size: [2, 2]
      stride: [2, 2]
      padding: [0, 0]
      dilation: [1, 1]
      ceil_mode: false
"""
CONV = CONV_LAYER.format(channels=16) + CONV_LAYER.format(channels=32)


def write_runs(root: Path, count: int, unique: bool = False) -> None:
    """`count` runs in sweep groups; with `unique`, no two runs share a spec (beyond name and seed)."""
    rng = random.Random(0)
    per_group = len(ACTIVATIONS) * len(LEARNING_RATES) * SEEDS
    for i in range(count):
        group = root / f"sweep{i // per_group}"
        noise = 0.15 + i * 1e-4 if unique else 0.15
        activation = ACTIVATIONS[i % len(ACTIVATIONS)]
        lr = LEARNING_RATES[(i // len(ACTIVATIONS)) % len(LEARNING_RATES)]
        seed = (i // (len(ACTIVATIONS) * len(LEARNING_RATES))) % SEEDS
        run_id = f"20261127-0412-{activation}-{lr}-s{seed}-{i:04x}"
        run = group / run_id
        run.mkdir(parents=True)
        (run / "spec.yaml").write_text(
            SPEC.format(name=group.name, seed=seed, activation=activation, conv=CONV, epochs=EPOCHS, lr=lr,
                        train_size=8000 + 100 * (i // per_group), noise=noise)
        )
        meta = {"status": "completed", "run_id": run_id, "name": group.name, "started": "2026-11-27T04:12:00",
                "ended": "2026-11-27T04:13:00", "duration_s": 31.0, "seed": seed,
                "swept": {"model.activation": activation, "train.optimizer.lr": lr}, "device": "cpu",
                "versions": {"cnnlab": "0.1.0", "torch": "2.14.1"}, "host": "bench", "pid": 1,
                "heartbeat": "2026-11-27T04:13:00", "git_commit": None,
                "command": "cnnlab train sweep.yaml", "error": None}
        (run / "meta.json").write_text(json.dumps(meta, indent=2))
        accs = sorted(rng.uniform(0.2, 0.95) for _ in range(EPOCHS))
        lines = ["epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds"]
        lines += [f"{e + 1},{1.5 - a:.4f},{a:.4f},{1.6 - a:.4f},{a:.4f},{lr},{rng.uniform(2, 3):.3f}"
                  for e, a in enumerate(accs)]
        (run / "metrics.csv").write_text("\n".join(lines) + "\n")
        summary = {"best_epoch": EPOCHS, "best_val_acc": accs[-1], "best_val_loss": 1.6 - accs[-1],
                   "final_val_acc": accs[-1], "final_train_loss": 1.5 - accs[-1], "final_train_acc": accs[-1],
                   "epochs_run": EPOCHS, "test_acc": accs[-1] - 0.01, "test_loss": 0.5, "params": 61706,
                   "macs": 1530624, "train_seconds": 25.0, "images_per_second": 2400.0,
                   "stopped_early": False, "diverged": False}
        (run / "summary.json").write_text(json.dumps(summary, indent=2))
        if not (group / "sweep.yaml").exists():
            (group / "sweep.yaml").write_text(
                f"name: {group.name}\nsweep:\n  model.activation: {list(ACTIVATIONS)}\n"
                f"  train.optimizer.lr: {list(LEARNING_RATES)}\nseeds: {list(range(SEEDS))}\n"
            )


# The command function alone behind a one-command Typer app: what compare itself costs, without
# the start-up of the whole CLI (measured separately with `cnnlab --help`).
STANDALONE = """\
import sys, typer
from cnnlab.commands.compare import compare
app = typer.Typer()
app.command()(compare)
app(sys.argv[1:], prog_name="cnnlab compare")
"""


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system) of one run of `argv`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def arguments(doc: str) -> argparse.Namespace:
    """--runs (how many run directories), --repeat (rounds) and --quick, for this benchmark and its kin."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="20 runs, one round: does it work?")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.repeat = 20, 1
    return args


def main() -> None:
    args = arguments(__doc__)
    python = sys.executable
    commands = {"compare function (standalone app)": [python, "-c", STANDALONE],
                "cnnlab compare (whole CLI)": [python, "-m", "cnnlab", "compare"]}
    with tempfile.TemporaryDirectory() as tmp:
        sweeps, unique = Path(tmp) / "sweeps", Path(tmp) / "unique"
        write_runs(sweeps, args.runs)
        write_runs(unique, args.runs, unique=True)
        variants = {
            "floor: python -c 'import typer'": [python, "-c", "import typer"],
            "CLI start-up: python -m cnnlab --help": [python, "-m", "cnnlab", "--help"],
        }
        for name, command in commands.items():
            for label, root, extra in [
                ("sweeps, table (default: seeds aggregated)", sweeps, []),
                ("sweeps, table --per-run", sweeps, ["--per-run"]),
                ("sweeps, csv", sweeps, ["--format", "csv"]),
                ("sweeps, json --where --sort", sweeps, ["-f", "json", "-w", "model.activation!=sigmoid",
                                                         "-s", "final_val_acc"]),
                ("every spec distinct, table", unique, []),
            ]:
                variants[f"{name}: {label}"] = [*command, str(root), *extra]
        for argv in variants.values():
            subprocess.run(argv, check=True, capture_output=True)  # warm the file cache
        # Round-robin, so that a machine whose speed drifts (a shared VM) slows every variant alike.
        times: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
        for _ in range(args.repeat):
            for label, argv in variants.items():
                times[label].append(timed(argv))
        floor = statistics.median(wall for wall, _ in times["floor: python -c 'import typer'"])
        print(f"{args.runs} runs; medians of {args.repeat} rounds")
        for label, samples in times.items():
            wall = statistics.median(w for w, _ in samples)
            cpu = statistics.median(c for _, c in samples)
            print(f"  {label:80s} {wall:6.3f} s wall  {cpu:6.3f} s CPU  {wall / floor:4.1f}x floor")


if __name__ == "__main__":
    main()
