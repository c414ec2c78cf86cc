"""The driver's view of the Ray cluster: connecting (or starting a local instance), whether a run
fits on any node, and whether every node sees the runs directory. Ray is imported only by the
functions that need it."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cnnlab import __version__
from cnnlab.errors import CnnlabError, UsageError
from cnnlab.run.ray_backend.tasks import RayTask
from cnnlab.run.ray_backend.worker import probe
from cnnlab.run.signals import reclaim_signals
from cnnlab.util.process import usable_cpus
from cnnlab.util.text import plural

INSTALL = "pip install 'cnnlab[ray]'"
PROBE_TIMEOUT_S = 120.0  # for every node to answer whether it sees the runs directory
CONNECT_TIMEOUT_S = 10.0  # for the cluster's address to accept a connection


def require_ray() -> None:
    """One line with the pip command when Ray is not installed (checked before any run exists)."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"--backend ray needs Ray, which is not installed here: {INSTALL}")


@contextlib.contextmanager
def connected(ray: Any, address: str | None) -> Iterator[str]:
    """Connected to the cluster at `address` (or to a new local instance, stopped on leaving); yields
    how to name it. Ray's own log lines stay out of cnnlab's output."""
    settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # an instance of our own: nothing to report
        settings.update(address="local", num_cpus=usable_cpus(), include_dashboard=False)
    else:
        _check_reachable(address)
        settings.update(address=address)
    try:
        ray.init(**settings)
    except Exception as err:  # Ray raises bare Exceptions too (a node that timed out starting)
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if address is None:
            raise CnnlabError(f"--backend ray: a local Ray instance did not start ({reason})") from None
        raise CnnlabError(f"--address {address}: cannot connect to a Ray cluster there ({reason}); "
                          f"start one with `ray start --head`") from None
    reclaim_signals()  # ray.init installs its own SIGTERM handler
    try:
        yield "a local instance" if address is None else f"the cluster at {address}"
    finally:
        ray.shutdown()


def _check_reachable(address: str) -> None:
    """A HOST:PORT where nothing listens is one line now (Ray itself would retry for ever)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # `auto`, or a form Ray resolves itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise CnnlabError(f"--address {address}: no Ray cluster answers there ({err.strerror or err}); start one "
                          f"with `ray start --head --port {port}`, or leave --address out for a local one") from None


def resource(node: dict, kind: str) -> float:
    """A node's total of one resource (CPU, GPU)."""
    return node.get("Resources", {}).get(kind, 0)


def check_fits(tasks: list[RayTask], nodes: list[dict]) -> None:
    """A run that no node of the cluster can hold would wait forever: refused, in one line. (A cluster
    that adds nodes on demand must have one that fits when the sweep starts.)"""
    for t in tasks:
        if not any(resource(n, "CPU") >= t.cpus and resource(n, "GPU") >= t.gpus for n in nodes):
            need = plural(t.cpus, "CPU") + (f" and {t.gpus:g} GPU" if t.gpus else "")
            most = max((resource(n, "CPU") for n in nodes), default=0)
            gpus = f" and {max((resource(n, 'GPU') for n in nodes), default=0):g} GPUs" if t.gpus else ""
            raise UsageError(f"a run needs {need} and no node of the Ray cluster has them (the largest has "
                             f"{plural(int(most), 'CPU')}{gpus}); lower --cpus-per-run or --gpus-per-run")


def every_node_sees(ray: Any, warn: Any, runs_dir: Path, tasks: list[RayTask], nodes: list[dict]) -> bool:
    """Whether every node that can hold a run sees the runs directory: a probe file written here,
    read there by a task pinned to each node. A node with another cnnlab version is warned of."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cpus = min(t.cpus for t in tasks)
    useful = [n for n in nodes if resource(n, "CPU") >= cpus] or nodes
    token = secrets.token_hex(16)
    path = Path(runs_dir).resolve() / f".cnnlab-probe-{token}"
    path.write_text(token, encoding="utf-8")
    remote = ray.remote(probe)
    try:
        refs = [remote.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(path), token) for n in useful]
        answers = ray.get(refs, timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.RayError as err:
        raise CnnlabError(f"a Ray node could not run cnnlab ({task_error(err)}); install cnnlab (the same version, "
                          f"with {INSTALL}) on every node") from None
    finally:
        path.unlink(missing_ok=True)
    for node, version, _ in answers:
        if version != __version__:
            warn(f"node {node} has cnnlab {version}, this machine {__version__}")
    return all(seen for _, _, seen in answers)


def task_error(err: BaseException) -> str:
    """The last line of what a Ray task raised: the reason, without Ray's framing."""
    cause = getattr(err, "cause", None) or err
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(cause).__name__
