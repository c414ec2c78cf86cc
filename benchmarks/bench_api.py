"""`cnnlab.load_runs` against `cnnlab compare` over the same 1,000 run directories, as a ratio.

The runs are bench_compare.py's (the trainer's format, 10 sweep groups of 100 runs). Timed in
rounds (round-robin, so that a drifting machine slows both alike), medians:

- in a running interpreter (a notebook): `cnnlab.load_runs(path)` with pandas imported already,
  against compare's own work in-process (load, build, render the table into a buffer);
- the call in a fresh interpreter, `import cnnlab` done: its first call, which imports pandas;
- as whole processes: `python -c "import cnnlab; cnnlab.load_runs(path)"` (interpreter start and
  the pandas import included) against the `cnnlab compare path` command.

The calls are set against the command, `cnnlab compare path`, as a user meets both.

    .venv/bin/python benchmarks/bench_api.py [--runs 1000] [--repeat 7] [--quick]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_compare import arguments, timed, write_runs  # noqa: E402

IN_PROCESS = """
import contextlib, io, json, statistics, sys, time
import pandas
from pathlib import Path
import cnnlab
from cnnlab.compare.show import show_comparison
path, repeat = sys.argv[1], int(sys.argv[2])

def compare():
    with contextlib.redirect_stdout(io.StringIO()):
        show_comparison([Path(path)], where=(), sort=None, ascending=False, top=None, metrics=None, fmt="table",
                        aggregate=None, all_params=False, plot=None, warn=print)

times = {"cnnlab.load_runs": [], "compare in-process": []}
for _ in range(repeat):
    for label, call in (("cnnlab.load_runs", lambda: cnnlab.load_runs(path)), ("compare in-process", compare)):
        start = time.perf_counter()
        call()
        times[label].append(time.perf_counter() - start)
print(json.dumps({label: statistics.median(t) for label, t in times.items()}))
"""

FIRST_CALL = """
import sys, time
import cnnlab
start = time.perf_counter()
cnnlab.load_runs(sys.argv[1])
print(time.perf_counter() - start)
"""
FIRST = "cnnlab.load_runs, first call (imports pandas)"
API_PROCESS = "python -c 'import cnnlab; cnnlab.load_runs(...)'"
CLI_PROCESS = "cnnlab compare (whole CLI)"


def main() -> None:
    args = arguments(__doc__)
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        write_runs(root, args.runs)
        done = subprocess.run([python, "-c", IN_PROCESS, str(root), str(args.repeat)], check=True,
                              capture_output=True, text=True)
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        api_process = [python, "-c", FIRST_CALL, str(root)]
        cli_process = [python, "-m", "cnnlab", "compare", str(root)]
        for argv in (api_process, cli_process):
            timed(argv)  # warm the file cache
        times: dict[str, list[float]] = {label: [] for label in (FIRST, API_PROCESS, CLI_PROCESS)}
        for _ in range(args.repeat):
            start = time.perf_counter()
            done = subprocess.run(api_process, check=True, capture_output=True, text=True)
            times[API_PROCESS].append(time.perf_counter() - start)
            times[FIRST].append(float(done.stdout))
            times[CLI_PROCESS].append(timed(cli_process)[0])  # wall seconds
        fresh = {label: statistics.median(t) for label, t in times.items()}
    print(f"{args.runs} runs; medians of {args.repeat} rounds")
    for label, seconds in {**inside, **fresh}.items():
        print(f"  {label:55s} {seconds:6.3f} s")
    command = fresh[CLI_PROCESS]
    print(f"  load_runs (pandas imported) / the compare command = {inside['cnnlab.load_runs'] / command:.2f}")
    print(f"  load_runs' first call / the compare command       = {fresh[FIRST] / command:.2f}")
    print(f"  in-process: load_runs / compare's work            = "
          f"{inside['cnnlab.load_runs'] / inside['compare in-process']:.2f}")
    print(f"  whole processes: python -c load_runs / compare    = {fresh[API_PROCESS] / command:.2f}")


if __name__ == "__main__":
    main()
