"""CPU threads under contention: which thread setting trains fastest on a quiet machine, and which
degrades gracefully when other processes want the same cores.

    .venv/bin/python benchmarks/bench_threads.py [--repeats 3] [--scenarios alone busy twin] [--configs ...]
        [--wait-quiet 60] [--priority -20] [--quick]

--quick measures cnnlab's default beside the hand loop once, alone, on 400 images (the test suite runs
it: the benchmark works, its figures mean nothing).

Every measurement is a fresh process (OMP_WAIT_POLICY is read when torch loads), timing the training
loop alone (images/s of one epoch of the quickstart model on 7,200 `shapes` images, batch 64):
  cnnlab     cnnlab's own path (execute_run, what `cnnlab train` calls) under one thread configuration
  hand       a hand-written loop over preloaded normalized tensors with torch's defaults (what a user
             writes first): the reference cnnlab must not lose to on a quiet machine
Configurations (--configs):
  torch      torch's default: as many threads as cores, OpenMP's default wait policy (spin, then sleep)
  one        torch.set_num_threads(1)
  passive    OMP_WAIT_POLICY=PASSIVE (idle threads sleep at once) with torch's thread count
  spin10k    GOMP_SPINCOUNT=10000: idle threads spin briefly (default 300,000), then sleep
  spin1k     GOMP_SPINCOUNT=1000 (what libgomp itself uses when it sees more threads than CPUs)
  spin100    GOMP_SPINCOUNT=100
  interop1   torch's default plus torch.set_num_interop_threads(1)
  cnnlab     cnnlab's default (cnnlab.train.threads.configure_threads: what `cnnlab train` does)
Scenarios (--scenarios), each with the same configurations interleaved:
  alone      nothing else started by the benchmark (other users of the machine are measured, see below)
  busy       one pure-Python busy loop beside it (one core taken by another program)
  twin       two copies of the same measurement at once (two trainings, e.g. two users or --jobs
             without a thread share): the figure is the mean of the pair
Before each scenario the machine's own load is sampled from /proc/stat for two seconds (busy and steal
percentages of all cores), so that "alone" says how quiet the machine was; --wait-quiet N first waits
(up to N minutes) until other work takes less than 10% of the cores. On a machine that stays busy,
--priority -20 (Linux, root) runs the benchmark in a session of its own whose scheduling group gets
the highest priority (/proc/self/autogroup; with autogroups, a plain nice value counts only within
a session), so that the scheduler gives it the cores almost whole (weight 88,761 against 1,024 for
each other session): the other work then barely competes, and the scenarios are the contention the
benchmark makes itself. Ratios are medians of the ratios
within one repetition (paired), so that load drifting between repetitions hits both sides alike.

What it showed, on 2 cores (the grounds of cnnlab.train.threads): OpenMP's idle threads spin (busy-wait)
before they sleep, so that the next parallel region starts at once; on a quiet machine that is what
makes two threads fast, but when other processes want the same cores each parallel region waits for a
thread that has no core, while the spinning ones burn the cores the others need: two trainings at once
on two cores each kept 3% of the speed one had alone. With GOMP_SPINCOUNT=1000 (300,000 by default;
1,000 is what GNU OpenMP itself falls back to when it sees more threads than CPUs), against the hand
loop with torch's defaults: alone, 1.13× the hand loop (1.38× with the default spin, 1.02× with
OMP_WAIT_POLICY=PASSIVE, which never spins); beside a second training, 56% of its speed alone kept (3%
with the default spin, 69% with PASSIVE); beside a busy loop, 58% (26%, 65%). One thread degrades
least (97–101% of its speed kept in both cases, 1.11× the hand loop alone), but cnnlab does not choose
the thread count from the machine's load: the count changes how sums are split, so a run's numbers
would depend on what else was running. torch's default (the physical cores) stays; `train.threads: 1`
is the choice for a machine known to be busy, and parallel sweeps (--jobs) already split the cores. A
user who set OMP_WAIT_POLICY, GOMP_SPINCOUNT or OMP_NUM_THREADS keeps their choice.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
QUICKSTART = REPO / "experiments" / "quickstart.yaml"
OVERRIDES = ["train.epochs=1", "train.device=cpu", "data.dataset.train_size=8000", "data.dataset.test_size=200"]
QUICK = ["data.dataset.train_size=400"]  # --quick: after OVERRIDES
CONFIGS = {  # name → (environment additions, worker arguments)
    "torch": ({}, []),
    "one": ({}, ["--threads", "1"]),
    "passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, []),
    "spin10k": ({"GOMP_SPINCOUNT": "10000"}, []),
    "spin1k": ({"GOMP_SPINCOUNT": "1000"}, []),
    "spin100": ({"GOMP_SPINCOUNT": "100"}, []),
    "interop1": ({}, ["--interop", "1"]),
    "cnnlab": ({}, ["--cnnlab-default"]),
}
BUSY_LOOP = "import time\nend = time.time() + 3600\nwhile time.time() < end: pass"


# ---------------------------------------------------------------- one measurement (a child process)


def worker(args: argparse.Namespace) -> None:
    """Train one epoch the `args.kind` way and print {"images_per_second": ..., "threads": ...}."""
    if args.cnnlab_default:
        from cnnlab.train.threads import configure_threads

        configure_threads()  # before torch loads, as `cnnlab train` does
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.interop:
        torch.set_num_interop_threads(args.interop)
    from cnnlab.spec import load_spec

    spec = load_spec(QUICKSTART, [*OVERRIDES, *(QUICK if args.quick else []),
                                  *([f"train.threads={args.threads}"] if args.threads else [])])
    rate = train_cnnlab(spec) if args.kind == "cnnlab" else train_by_hand(spec)
    print(json.dumps({"images_per_second": rate, "threads": torch.get_num_threads(),
                      "wait_policy": os.environ.get("OMP_WAIT_POLICY", "")}))


def train_cnnlab(spec) -> float:
    from cnnlab.run.execute import execute_run
    from cnnlab.spec import RunSpec
    from cnnlab.train.progress import LogReporter

    with tempfile.TemporaryDirectory() as runs:
        outcome = execute_run(RunSpec(spec), Path(runs), LogReporter, command=["bench"])
    assert outcome.status == "completed", outcome.error
    return outcome.summary.images_per_second


def train_by_hand(spec) -> float:
    """bench_training_speed's B0: forward, loss, backward, step over shuffled batches of one preloaded,
    normalized float tensor in PyTorch's default layout."""
    import torch
    from bench_training_speed import run_b  # beside this file: the same hand loop for both benchmarks

    return run_b(spec, torch.contiguous_format)


# ---------------------------------------------------------------- the parent: scenarios × configurations


def child(kind: str, config: str, quick: bool) -> subprocess.Popen:
    env_extra, extra = CONFIGS[config]
    env = {**os.environ, "PYTHONPATH": str(REPO), **env_extra}
    return subprocess.Popen([sys.executable, __file__, "--worker", kind, *extra, *["--quick"] * quick], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=900)
    if proc.returncode:
        raise SystemExit(f"a measurement failed:\n{err}")
    return json.loads(out.strip().splitlines()[-1])


def measure(kind: str, config: str, scenario: str, quick: bool) -> float:
    if scenario == "twin":
        pair = [child(kind, config, quick), child(kind, config, quick)]
        return statistics.fmean(result(p)["images_per_second"] for p in pair)
    return result(child(kind, config, quick))["images_per_second"]


def raise_priority(nice: int) -> None:
    """This process and its children in a session of their own, its scheduling group at `nice`."""
    with contextlib.suppress(PermissionError):  # already leads its process group: `setsid` started it
        os.setsid()
    with open("/proc/self/autogroup", "w") as f:
        f.write(str(nice))


def cpu_sample(seconds: float = 2.0) -> tuple[float, float]:
    """(busy %, steal %) of all cores over `seconds`, from /proc/stat: the machine's load from others."""

    def read() -> list[int]:
        with open("/proc/stat") as f:
            return [int(v) for v in f.readline().split()[1:]]

    a = read()
    time.sleep(seconds)
    b = read()
    delta = [y - x for x, y in zip(a, b, strict=False)]
    total = sum(delta) or 1
    idle = delta[3] + delta[4]  # idle + iowait
    steal = delta[7] if len(delta) > 7 else 0
    return 100 * (total - idle - steal) / total, 100 * steal / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenarios", nargs="+", default=["alone", "busy", "twin"],
                        choices=["alone", "busy", "twin"])
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="MINUTES",
                        help="wait up to this long for other work to take < 10%% of the cores")
    parser.add_argument("--priority", type=int, default=None, metavar="NICE",
                        help="the benchmark's scheduling group at this nice value (-20: highest; Linux, root)")
    parser.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    parser.add_argument("--worker", choices=["cnnlab", "hand"], dest="kind", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--interop", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--cnnlab-default", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="cnnlab's default once, alone: does it work?")
    args = parser.parse_args()
    if args.quick and not args.kind:
        args.repeats, args.configs, args.scenarios = 1, ["cnnlab"], ["alone"]
    if args.kind:
        worker(args)
        return
    if args.priority is not None:
        raise_priority(args.priority)
    priority = "" if args.priority is None else f"; its session's priority raised to nice {args.priority}"
    print(f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f}{priority}; cnnlab configurations: "
          f"{', '.join(args.configs)}; reference: hand loop with torch's defaults")
    deadline = time.time() + 60 * args.wait_quiet
    while args.wait_quiet and cpu_sample(10)[0] >= 10 and time.time() < deadline:
        time.sleep(20)
    summary = {}
    for scenario in args.scenarios:
        busy, steal = cpu_sample()
        print(f"{scenario}: before it, the machine was {busy:.0f}% busy with other work ({steal:.0f}% steal)")
        hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if scenario == "busy" else None
        try:
            rates: dict[str, list[float]] = {name: [] for name in ["hand", *args.configs]}
            for rep in range(args.repeats):
                order = ["hand", *args.configs]
                order = order[rep % len(order):] + order[:rep % len(order)]
                for name in order:
                    rates[name].append(measure("hand" if name == "hand" else "cnnlab", "torch" if name == "hand"
                                               else name, scenario, args.quick))
                print(f"  repetition {rep + 1}: " + "  ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items()))
        finally:
            if hog is not None:
                hog.kill()
        summary[scenario] = rates
        line = "  ".join(
            f"{name} {statistics.median(rates[name]):,.0f} img/s "
            f"({statistics.median(a / h for a, h in zip(rates[name], rates['hand'], strict=True)):.2f}× hand)"
            for name in args.configs)
        print(f"{scenario}, medians of {args.repeats}: hand {statistics.median(rates['hand']):,.0f} img/s  {line}")
    if "alone" in summary:
        alone = summary["alone"]
        for scenario in (s for s in summary if s != "alone"):
            kept = "  ".join(f"{name} {statistics.median(summary[scenario][name]) / statistics.median(alone[name]):.2f}"
                             for name in ["hand", *args.configs])
            print(f"{scenario} / alone (share of the speed alone kept): {kept}")
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
