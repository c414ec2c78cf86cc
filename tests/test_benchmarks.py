"""Every benchmark still runs: each script of benchmarks/ with --quick (little data, one repetition),
so that a change to what they call breaks a test, not the next measurement. Their figures are not
looked at: speed is measured by running them in full (ratios, never times asserted here)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
BENCHMARKS = sorted((ROOT / "benchmarks").glob("*.py"))
EXTRA = {  # beyond --quick: the paths a full run would take too, and data of the test's own
    "bench_training_speed.py": ["--memory", "--data", "{tmp}"],
    "bench_diagnostics.py": ["--data", "{tmp}"],
    "gpu.py": ["--data", "{tmp}"],
}
NEEDS = {"bench_backends.py": "ray"}  # a package of an extra: skipped where it is not installed


def test_every_benchmark_is_run_here():
    assert len(BENCHMARKS) >= 8 and all("--quick" in path.read_text() for path in BENCHMARKS)


@pytest.mark.slow
@pytest.mark.parametrize("script", BENCHMARKS, ids=lambda path: path.stem)
def test_a_benchmark_runs_quickly(script: Path, tmp_path):
    if (package := NEEDS.get(script.name)) and importlib.util.find_spec(package) is None:
        pytest.skip(f"{package} is not installed (pip install -e '.[dev]')")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in EXTRA.get(script.name, [])]
    done = subprocess.run([sys.executable, str(script), "--quick", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    assert "Traceback" not in done.stderr
