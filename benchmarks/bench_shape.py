"""How long `cnnlab shape` takes as a whole process, next to a process that only imports torch.

Times `cnnlab shape experiments/lenet5_mnist.yaml` (the ad-hoc LeNet-5 layers while that spec does
not exist) and `python -c "import torch"` alternately, several times each, and prints the medians
and their ratio. The promise: well under 0.5 s, while anything that imports torch takes seconds.

    .venv/bin/python benchmarks/bench_shape.py [--repeat 7]
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
SPEC = ROOT / "experiments" / "lenet5_mnist.yaml"
LENET5 = ["--input", "1x32x32", "conv:6,k5", "pool:max,k2", "conv:16,k5", "pool:max,k2", "conv:120,k5",
          "flatten", "fc:84", "fc:10"]

# Until cnnlab.cli registers `shape`, run the command function under the same wrapper it will get.
UNREGISTERED = (
    "import typer; from cnnlab.cli import user_errors; from cnnlab.commands.shape import shape; "
    "app = typer.Typer(); app.command()(user_errors(shape)); app()"
)


def shape_command() -> list[str]:
    from cnnlab.cli import app

    registered = any(command.name == "shape" for command in app.registered_commands)
    prefix = [sys.executable, "-m", "cnnlab", "shape"] if registered else [sys.executable, "-c", UNREGISTERED]
    return prefix + ([str(SPEC)] if SPEC.exists() else LENET5)


def seconds(command: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process; CPU time (user + system) barely moves with machine load."""
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    variants = {"cnnlab shape": shape_command(), "python -c 'import torch'": [sys.executable, "-c", "import torch"]}
    print("shape command:", " ".join(Path(variants["cnnlab shape"][0]).name if i == 0 else part
                                     for i, part in enumerate(variants["cnnlab shape"])))
    for command in variants.values():  # warm the file cache once, untimed
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
    print(f"import torch / cnnlab shape: {torch_wall / shape_wall:.1f}× wall, {torch_cpu / shape_cpu:.1f}× CPU; "
          f"load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

if __name__ == "__main__":
    main()
