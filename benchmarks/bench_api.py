"""`cnnlab.load_runs` against `cnnlab compare` over the same 1,000 run directories, as a ratio.

The runs are bench_compare.py's (the trainer's format, 10 sweep groups of 100 runs). Timed in
rounds (round-robin, so that a drifting machine slows both alike), medians:

- in a running interpreter (a notebook): `cnnlab.load_runs(path)` with pandas imported already,
  against compare's own work in-process (load, build, render the table into a buffer);
- as whole processes: `python -c "import cnnlab; cnnlab.load_runs(path)"` (interpreter start and
  the pandas import included) against the `cnnlab compare path` command.

    .venv/bin/python benchmarks/bench_api.py [--runs 1000] [--repeat 7]
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
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


def main() -> None:
    args = arguments(__doc__)
    python = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "runs"
        write_runs(root, args.runs)
        done = subprocess.run([python, "-c", IN_PROCESS, str(root), str(args.repeat)], check=True,
                              capture_output=True, text=True)
        inside = json.loads(done.stdout.strip().splitlines()[-1])
        commands = {"python -c 'import cnnlab; cnnlab.load_runs(...)'": [
                        python, "-c", f"import cnnlab; cnnlab.load_runs({str(root)!r})"],
                    "cnnlab compare (whole CLI)": [python, "-m", "cnnlab", "compare", str(root)]}
        for argv in commands.values():
            timed(argv)  # warm the file cache
        times: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.repeat):
            for label, argv in commands.items():
                times[label].append(timed(argv)[0])  # wall seconds
        whole = {label: statistics.median(t) for label, t in times.items()}
    print(f"{args.runs} runs; medians of {args.repeat} rounds")
    for label, seconds in {**inside, **whole}.items():
        print(f"  {label:55s} {seconds:6.3f} s")
    api, cli = inside["cnnlab.load_runs"], inside["compare in-process"]
    print(f"  in a running interpreter: load_runs / compare = {api / cli:.2f}")
    api, cli = whole.values()
    print(f"  whole processes:          load_runs / compare = {api / cli:.2f}")


if __name__ == "__main__":
    main()
