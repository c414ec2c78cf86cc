"""How long `cnnlab shape` takes as a whole process, next to a process that only imports torch.

Times `cnnlab shape experiments/lenet5_mnist.yaml` and `python -c "import torch"` alternately,
several times each, and prints the medians and their ratio. The goal: the shape command takes at
most 0.15 of the time of the bare torch import.

Both run with their bytecode cached, as an installed cnnlab runs (PYTHONDONTWRITEBYTECODE is dropped
for them, so the untimed first run writes cnnlab's __pycache__; torch's came with its install).

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_shape.py [--repeat 7] [--quick]

--quick: one round (the test suite runs it: the benchmark works, its figures mean little).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPE = [sys.executable, "-m", "cnnlab", "shape", str(ROOT / "experiments" / "lenet5_mnist.yaml")]
TORCH = [sys.executable, "-c", "import torch"]
GOAL = 0.15  # at most this share of the torch import
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}


def seconds(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process; CPU time (user + system) barely moves with machine load."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one round: does it work?")
    args = parser.parse_args()
    if args.quick:
        args.repeat = 1
    variants = {"cnnlab shape": SHAPE, "python -c 'import torch'": TORCH}
    for command in variants.values():  # warm the file cache (and write cnnlab's bytecode) once, untimed
        seconds(command)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for _ in range(args.repeat):  # alternate, so load changes on the machine hit both alike
        for name, command in variants.items():
            times[name].append(seconds(command))
    medians = {}
    for name, runs in times.items():
        wall, cpu = (statistics.median(column) for column in zip(*runs, strict=True))
        medians[name] = (wall, cpu)
        print(f"{name:26s} median wall {wall:.3f} s (min {min(w for w, _ in runs):.3f}), "
              f"median CPU {cpu:.3f} s  (n={args.repeat})")
    (shape_wall, shape_cpu), (torch_wall, torch_cpu) = medians.values()
    print(f"cnnlab shape / import torch: {shape_wall / torch_wall:.3f} wall, {shape_cpu / torch_cpu:.3f} CPU "
          f"(goal <= {GOAL}); load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
