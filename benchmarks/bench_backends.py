"""What running a sweep on Ray costs against `--jobs`, on one machine: the same 12-run shapes sweep
(3 activations × 4 seeds, one thread per run) with `--jobs 2`, on a Ray head started beforehand
(`--backend ray --address`, both ways of writing run directories) and on a local Ray instance that
cnnlab starts and stops (`--backend ray`). Each command is a whole `cnnlab train` process into a
fresh runs directory; the commands take turns (round-robin, so that a drifting machine slows all
alike) and the medians are printed, with the ratio to `--jobs 2` and the time per run that the two
slots spent outside any run (starting processes or tasks, scheduling, shipping). Also times
`ray start --head` (what a test fixture or CI pays once).

Both keep their worker processes across the runs of one command (`--jobs` since its workers train
one run after another: before, a process per run imported torch again for every run, and the same
sweep took 38.7 s with `--jobs 2` against 10.3 s now), so each imports torch once per worker.

    .venv/bin/python benchmarks/bench_backends.py [--repeat 3] [--epochs 2] [--train-size 2000] [--quick]

--quick: a 3-run sweep (one seed) of one epoch on 200 images, once, with `--jobs 2` and on the Ray head
(the test suite runs it: the benchmark works, its figures mean nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

QUICK_COMMANDS = ("--jobs 2", "--backend ray --address (workers write)")
SLOTS = 2  # runs at a time: --jobs 2, and a 2-CPU Ray node with 1 CPU per run
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def sweep(epochs: int, train_size: int, seeds: int) -> dict:
    """3 activations × `seeds` seeds of a small CNN on shapes, one thread a run."""
    return {"name": "bench", "seed": 0,
            "data": {"dataset": {"name": "shapes", "train_size": train_size, "test_size": 500}},
            "model": {"conv": [{"out_channels": 8, "kernel_size": 3, "padding": 1,
                                "pool": {"type": "max", "kernel_size": 2}}], "fc": [32]},
            "train": {"epochs": epochs, "batch_size": 64, "device": "cpu", "threads": 1},
            "sweep": {"model.activation": ["relu", "tanh", "sigmoid"]}, "seeds": list(range(seeds))}


def start_head(temp: str) -> tuple[subprocess.Popen, str, float]:
    """`ray start --head --block` on a free port; the process, its address and seconds until it was up."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
    started = time.perf_counter()
    head = subprocess.Popen([ray, "start", "--head", "--block", "--num-cpus", "2", "--port", str(port), "--temp-dir",
                             temp, "--include-dashboard=false", "--disable-usage-stats"], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    for line in head.stdout:
        if "Ray runtime started" in line:
            break
    return head, f"127.0.0.1:{port}", time.perf_counter() - started


def stop_head(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


def timed(spec: Path, runs: Path, args: list[str], count: int) -> tuple[float, float]:
    """The wall time of one `cnnlab train` and the time its 2 slots spent outside any run, per run:
    (2 × wall − Σ run durations) / runs; a run's duration (meta.json) starts once its directory
    exists, so it includes the run's own imports and data, not starting a process or a task."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnnlab", "train", str(spec), "--runs-dir", str(runs), *args],
                          env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode != 0 or f"{count} runs: {count} completed" not in done.stdout:
        raise SystemExit(f"{args}: failed\n{done.stdout}\n{done.stderr}")
    busy = sum(json.loads(p.read_text())["duration_s"] for p in runs.glob("*/*/meta.json"))
    return seconds, (SLOTS * seconds - busy) / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="3 small runs, once: does it work?")
    args = parser.parse_args()
    seeds = 1 if args.quick else 4
    if args.quick:
        args.repeat, args.epochs, args.train_size = 1, 1, 200
    count = 3 * seeds
    work = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    spec = work / "sweep.yaml"
    spec.write_text(yaml.safe_dump(sweep(args.epochs, args.train_size, seeds)))
    head, address, head_start = start_head(tempfile.mkdtemp(prefix="cnnlab-ray-"))
    print(f"ray start --head: {head_start:.1f} s until it was up")
    commands = {"--jobs 2": ["--jobs", "2"],
                "--backend ray --address (workers write)": ["--backend", "ray", "--address", address],
                "--backend ray --address --ship": ["--backend", "ray", "--address", address, "--ship"],
                "--backend ray (local instance)": ["--backend", "ray"]}
    if args.quick:
        commands = {name: extra for name, extra in commands.items() if name in QUICK_COMMANDS}
    times: dict[str, list[float]] = {name: [] for name in commands}
    idle: dict[str, list[float]] = {name: [] for name in commands}
    try:
        for round_ in range(args.repeat):
            for i, (name, extra) in enumerate(commands.items()):
                wall, outside = timed(spec, work / f"runs-{round_}-{i}", extra, count)
                times[name].append(wall)
                idle[name].append(outside)
                print(f"  round {round_ + 1}: {name}: {wall:.1f} s, {outside:.2f} s per run outside runs", flush=True)
    finally:
        stop_head(head)
        shutil.rmtree(work, ignore_errors=True)
    base = statistics.median(times["--jobs 2"])
    print(f"\n{count}-run shapes sweep, {args.epochs} epochs of {args.train_size} images per run, medians of "
          f"{args.repeat} (outside runs: a slot's time per run not inside a run directory's duration):")
    for name, values in times.items():
        median = statistics.median(values)
        outside = statistics.median(idle[name])
        print(f"  {name:42} {median:6.1f} s  {median / base:5.2f}× --jobs 2  "
              f"({(median - base) / count:+.2f} s per run)  outside runs {outside:5.2f} s per run")


if __name__ == "__main__":
    main()
