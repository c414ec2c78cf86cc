"""A real Ray head for the tests, started as its own process (as `ray start --head` gives anyone a
cluster): `ray_head` in conftest.py starts one for the whole session."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import cnnlab

ROOT = str(Path(cnnlab.__file__).resolve().parent.parent)
ENV = {"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0",
       "PYTHONPATH": os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_head(temp: str) -> tuple[subprocess.Popen, int, str]:
    """`ray start --head --block` with 2 CPUs on a free port; the process, its port, what it printed."""
    ray = shutil.which("ray", path=str(Path(sys.executable).parent)) or shutil.which("ray")
    port = free_port()
    head = subprocess.Popen([ray, "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
                             "--temp-dir", temp, "--include-dashboard=false", "--disable-usage-stats"],
                            env={**os.environ, **ENV}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    seen = []
    for line in head.stdout:  # up when it says so
        seen.append(line)
        if "Ray runtime started" in line:
            break
    return head, port, "".join(seen)


def running_head(temp: str) -> Iterator[str]:
    """A head of its own (port, temp dir), stopped with every process it started at the end; its
    address. Started a second time if the first fails: Ray gives its raylet 30 s, which a loaded
    machine can miss."""
    head, port, seen = start_head(temp)
    if head.poll() is not None:
        head, port, seen = start_head(temp)
    assert head.poll() is None, seen
    yield f"127.0.0.1:{port}"
    head.send_signal(signal.SIGTERM)  # --block: it stops the processes of its node
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
    shutil.rmtree(temp, ignore_errors=True)
