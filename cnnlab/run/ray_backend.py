"""Sweeps on a Ray cluster: `cnnlab train EXP.yaml --backend ray [--address auto|HOST:PORT]`.

Ray schedules, cnnlab does the rest as it does with `--jobs`: every run is one Ray task (with
--cpus-per-run CPUs and --gpus-per-run GPUs), and the task does what a parallel worker does
(cnnlab.run.parallel.run_job → execute_run: the claim, the run directory, the true status). This
module only connects, starts the tasks, hears how each ended and stops them.

Where run directories are written: when every node sees --runs-dir (a shared filesystem; a probe
file tells, or --no-ship says so), the workers write there directly, and claims, heartbeats and
`cnnlab ls` work as on one machine. Otherwise (--ship, or the probe fails) each worker trains into a
temporary directory of its own and the finished run directory comes back through Ray's object store
to be placed under --runs-dir in one rename (cnnlab.run.ship); this process then holds each run's
claim for the run, since the workers cannot take it where the runs are.

Stopping: a first SIGINT/SIGTERM (or --fail-fast) cancels the tasks: those not started never start,
and a running one gets an interrupt in its worker (Ray's cancel), where cnnlab's signal handling
turns it into a stop after the current step with last.pt written and the run `interrupted` (a
shipped one is still shipped back). A second signal cancels them again, which stops them at once,
still marking their runs. A worker that dies (killed for memory, a node lost) has its run marked
failed; Ray never runs a task again.
"""

from __future__ import annotations

import _thread
import contextlib
import importlib.util
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab import __version__
from cnnlab.errors import CnnlabError, Interrupted, UsageError
from cnnlab.run.board import shown_path
from cnnlab.run.execute import Outcome, completed_meanwhile, take_claim
from cnnlab.run.parallel import NOT_STARTED, Finished, Job, run_job
from cnnlab.run.signals import STOP, handle_signals, reclaim_signals
from cnnlab.run.skip import runs_by_status
from cnnlab.rundir.liveness import now_iso
from cnnlab.rundir.store import RunStore, experiment_dir
from cnnlab.spec import Spec
from cnnlab.spec.identity import canonical
from cnnlab.util.text import plural

INSTALL = "pip install 'cnnlab[ray]'"
POLL_S = 0.25  # how often the driver looks for a stop request while it waits for tasks
WATCH_S = 0.5  # how often a task looks whether Ray marked it cancelled
PROBE_TIMEOUT_S = 120.0  # for every node to answer whether it sees the runs directory
CONNECT_TIMEOUT_S = 10.0  # for the cluster's address to accept a connection
EMERGENCY_WAIT_S = 3.0  # after a second signal, for the tasks to mark their runs before this process exits


@dataclass(frozen=True)
class RayOptions:
    """What `--backend ray` was given; None: decided here (see --help)."""

    address: str | None = None  # None: a local Ray instance, started and stopped by this command
    cpus_per_run: int | None = None
    gpus_per_run: float | None = None
    ship: bool | None = None  # None: ship when some node does not see the runs directory

    def args(self) -> list[str]:
        """The options as `cnnlab train` takes them (for the command recorded in meta.json)."""
        out = ["--backend", "ray"]
        out += ["--address", self.address] if self.address else []
        out += ["--cpus-per-run", str(self.cpus_per_run)] if self.cpus_per_run is not None else []
        out += ["--gpus-per-run", f"{self.gpus_per_run:g}"] if self.gpus_per_run is not None else []
        return out + ([] if self.ship is None else ["--ship" if self.ship else "--no-ship"])


def require_ray() -> None:
    """One line with the pip command when Ray is not installed (checked before any run exists)."""
    if importlib.util.find_spec("ray") is None:
        raise UsageError(f"--backend ray needs Ray, which is not installed here: {INSTALL}")


@dataclass(frozen=True)
class Placed:
    """A job with the resources its task asks for."""

    job: Job
    cpus: int
    gpus: float


def plan_tasks(runs: list[Spec], resume: dict[int, Path], options: RayOptions, cluster_gpus: float) -> list[Placed]:
    """Each run's task: C CPUs (--cpus-per-run, else the spec's train.threads, else 1) and as many
    torch threads unless the spec fixes them; G GPUs (--gpus-per-run, else 1 when the spec's device
    is cuda, or auto on a cluster with GPUs; else 0). A run given a GPU trains on the one Ray
    assigned it (its `cuda`); one given none trains on the CPU even when its device is auto."""
    out = []
    for i, run in enumerate(runs):
        cpus = options.cpus_per_run or run.train.threads or 1
        device = run.train.device
        if options.gpus_per_run is not None:
            gpus = options.gpus_per_run
        else:
            gpus = 1.0 if device.startswith("cuda") or (device == "auto" and cluster_gpus > 0) else 0.0
        target = resume.get(i)
        job = Job(i, run.resolved(), run.identity(), run.train.threads or cpus, _device_in_task(device, gpus),
                  str(target) if target else None)
        out.append(Placed(job, cpus, gpus))
    return out


def _device_in_task(device: str, gpus: float) -> str | None:
    """The device a task trains on, where it is not the spec's (the recorded spec keeps its own)."""
    if gpus > 0:
        return "cuda" if device.startswith("cuda") else None  # the GPU Ray assigned is the task's cuda:0
    return "cpu" if device == "auto" else None  # never a GPU that Ray gave another task


# ---- on the workers ---------------------------------------------------------------------------


class News:
    """A Ray actor that holds what the tasks tell the driver while they run (that they started, their
    progress) until the driver takes it. A task only sends (never waits on Ray inside a task: Ray
    lends a waiting task's CPUs to another, and more runs would train at once than asked for)."""

    def __init__(self) -> None:
        self.items: list[tuple] = []

    def put(self, item: tuple) -> None:
        self.items.append(item)

    def take(self) -> list[tuple]:
        items, self.items = self.items, []
        return items


def ray_task(job: Job, runs_dir: str | None, command: list[str], force: bool, cwd: str, news: Any) -> tuple:
    """One run on a Ray worker: (status, path, summary, error) and, when `runs_dir` is None (shipped),
    the run directory as data; its start and progress go to the `news` actor. Ray's cancel interrupts
    the worker's main thread as SIGINT would (a first time: stop after the step; a second: at once),
    which cnnlab's own handler turns into a true status."""
    news.put.remote(("started", job.index, None))

    def progress(event: Any) -> None:
        news.put.remote(("progress", job.index, event))

    with handle_signals(), STOP.deferred(), _working_directory(cwd), _cancel_watch():
        try:  # deferred: a stop that comes after the run has ended must not lose its outcome
            if runs_dir is not None:
                return run_job(job, Path(runs_dir), command, force, progress), None
            from cnnlab.run.ship import pack

            local = Path(tempfile.mkdtemp(prefix="cnnlab-ship-"))
            try:
                message = run_job(job, local, command, force, progress)
                return message, pack(Path(message[1])) if message[1] else None
            finally:
                shutil.rmtree(local, ignore_errors=True)
        except Interrupted:
            return NOT_STARTED, None


@contextlib.contextmanager
def _cancel_watch() -> Iterator[None]:
    """Ray's cancel is best effort: should its interrupt not reach the task (the task marked cancelled,
    no stop requested a moment later), a thread delivers it."""
    import ray

    done = threading.Event()

    def watch() -> None:
        while not done.wait(WATCH_S):
            if ray.get_runtime_context().is_canceled():
                if not done.wait(2 * WATCH_S) and STOP.requested() is None:
                    _thread.interrupt_main(signal.SIGINT)
                return

    thread = threading.Thread(target=watch, daemon=True, name="cnnlab-cancel-watch")
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@contextlib.contextmanager
def _working_directory(path: str) -> Iterator[None]:
    """Where `cnnlab train` was started, when this node has it, so that relative paths in the spec
    (data.root) mean what they mean there; the worker's own directory again afterwards (Ray reuses
    workers)."""
    before = os.getcwd()
    moved = os.path.isdir(path)
    if moved:
        os.chdir(path)
    try:
        yield
    finally:
        if moved:
            os.chdir(before)


def probe(path: str, token: str) -> tuple[str, str, bool]:
    """On one node: its name, its cnnlab version, and whether it sees the probe file at `path`."""
    try:
        seen = Path(path).read_text(encoding="utf-8") == token
    except OSError:
        seen = False
    return platform.node(), __version__, seen


# ---- on the driver ----------------------------------------------------------------------------


def run_on_ray(console: Any, todo: list[tuple[Spec, Path | None]], runs_dir: Path, options: RayOptions,
               force: bool, command: list[str], board: Any, on_finished: Callable[[Finished], bool]) -> None:
    """Train `todo` as Ray tasks; the `board` (cnnlab.run.board.SweepBoard) hears of each run as it
    starts and progresses, `on_finished` as it ends (and returns True to stop the rest: fail-fast); a
    first SIGINT/SIGTERM stops them (STOP.requested() then says which)."""
    import ray

    runs = [run for run, _ in todo]
    with _connected(ray, options.address) as where:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        gpus_in_cluster = sum(n.get("Resources", {}).get("GPU", 0) for n in nodes)
        tasks = plan_tasks(runs, {i: p for i, (_, p) in enumerate(todo) if p is not None}, options, gpus_in_cluster)
        _check_fits(tasks, nodes)
        ship = options.ship
        if ship is None:
            ship = options.address is not None and not _every_node_sees(ray, console, runs_dir, tasks, nodes)
        if ship and any(t.job.resume for t in tasks):
            raise UsageError("--resume with --backend ray needs a --runs-dir that every Ray node sees (a shipped "
                             "run cannot continue on a worker); resume these runs without --backend ray")
        cpus = int(sum(n.get("Resources", {}).get("CPU", 0) for n in nodes))
        each = {(t.cpus, t.gpus) for t in tasks}
        per_run = (f"{plural(tasks[0].cpus, 'CPU')}" + (f" and {tasks[0].gpus:g} GPU" if tasks[0].gpus else "")
                   if len(each) == 1 else "resources per run from each spec")
        written = "shipped back here" if ship else "written by the workers"
        console.print(f"running {plural(len(tasks), 'run')} on Ray ({where}: {plural(cpus, 'CPU')}"
                      f"{f', {gpus_in_cluster:g} GPUs' if gpus_in_cluster else ''}), {per_run} each, into "
                      f"{shown_path(runs_dir / runs[0].name)}/, {written} (each run's log.txt has its log)",
                      markup=False)
        board.jobs = max(1, min(len(tasks), int(cpus // max(t.cpus for t in tasks))))  # at a time, for its estimate
        _Sweep(ray, runs, tasks, runs_dir, ship, force, command, board, on_finished,
               local=options.address is None).run()


@contextlib.contextmanager
def _connected(ray: Any, address: str | None) -> Iterator[str]:
    """Connected to the cluster at `address` (or to a new local instance, stopped on leaving); yields
    how to name it. Ray's own log lines stay out of cnnlab's output."""
    settings: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # an instance of our own: nothing to report
        settings.update(address="local", num_cpus=len(os.sched_getaffinity(0)), include_dashboard=False)
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


def _check_fits(tasks: list[Placed], nodes: list[dict]) -> None:
    """A run that no node of the cluster can hold would wait forever: refused, in one line. (A cluster
    that adds nodes on demand must have one that fits when the sweep starts.)"""
    def has(node: dict, kind: str) -> float:
        return node.get("Resources", {}).get(kind, 0)

    for t in tasks:
        if not any(has(n, "CPU") >= t.cpus and has(n, "GPU") >= t.gpus for n in nodes):
            need = plural(t.cpus, "CPU") + (f" and {t.gpus:g} GPU" if t.gpus else "")
            most = max((has(n, "CPU") for n in nodes), default=0)
            gpus = f" and {max((has(n, 'GPU') for n in nodes), default=0):g} GPUs" if t.gpus else ""
            raise UsageError(f"a run needs {need} and no node of the Ray cluster has them (the largest has "
                             f"{plural(int(most), 'CPU')}{gpus}); lower --cpus-per-run or --gpus-per-run")


def _every_node_sees(ray: Any, console: Any, runs_dir: Path, tasks: list[Placed], nodes: list[dict]) -> bool:
    """Whether every node that can hold a run sees the runs directory: a probe file written here,
    read there by a task pinned to each node."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    cpus = min(t.cpus for t in tasks)
    useful = [n for n in nodes if n.get("Resources", {}).get("CPU", 0) >= cpus] or nodes
    token = secrets.token_hex(16)
    path = Path(runs_dir).resolve() / f".cnnlab-probe-{token}"
    path.write_text(token, encoding="utf-8")
    remote = ray.remote(probe)
    try:
        refs = [remote.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
                .remote(str(path), token) for n in useful]
        answers = ray.get(refs, timeout=PROBE_TIMEOUT_S)
    except ray.exceptions.RayError as err:
        raise CnnlabError(f"a Ray node could not run cnnlab ({_reason(err)}); install cnnlab (the same version, "
                          f"with {INSTALL}) on every node") from None
    finally:
        path.unlink(missing_ok=True)
    for node, version, _ in answers:
        if version != __version__:
            console.print(f"[yellow]warning:[/yellow] node {node} has cnnlab {version}, this machine {__version__}")
    return all(seen for _, _, seen in answers)


class _Sweep:
    """The tasks of one sweep, from submission to the last report."""

    def __init__(self, ray: Any, runs: list[Spec], tasks: list[Placed], runs_dir: Path, ship: bool, force: bool,
                 command: list[str], board: Any, on_finished: Callable[[Finished], bool], local: bool) -> None:
        self.ray, self.runs, self.tasks, self.runs_dir = ray, runs, tasks, runs_dir
        self.ship, self.force, self.command, self.board, self.on_finished = ship, force, command, board, on_finished
        self.news = ray.remote(num_cpus=0)(News).remote()
        self.news_taken = self.news.take.remote()  # the next batch of news, asked for
        self.ended: set[int] = set()  # runs reported: news of them that comes late is dropped
        self.local = local  # a Ray instance of this process's own, to stop before exiting at once
        self.experiment = experiment_dir(runs_dir, runs[0].name)
        self.remote = ray.remote(max_retries=0)(ray_task)  # a crashed run is failed, as with --jobs; never rerun
        self.waiting: dict[Any, tuple[Placed, Any]] = {}  # task ref → (its task, the claim held here when shipped)
        self.stopping = False

    def run(self) -> None:
        with STOP.deferred(), STOP.on_emergency(self._stop_at_once):
            for task in self.tasks:
                if self.stopping or STOP.requested() is not None:
                    break
                self._submit(task)
            while self.waiting:
                if STOP.requested() is not None and not self.stopping:
                    self._stop_all()
                ready, _ = self.ray.wait(list(self.waiting), num_returns=1, timeout=POLL_S)
                self._pass_news()
                for ref in ready:
                    task, claim = self.waiting.pop(ref)
                    try:
                        finished = self._collect(ref, task)
                    finally:
                        if claim is not None:
                            claim.release()
                    if finished is not None:
                        self._report(finished)

    def _pass_news(self) -> None:
        """The tasks' starts and progress, to the board."""
        ready, _ = self.ray.wait([self.news_taken], timeout=0)
        if not ready:
            return
        with contextlib.suppress(self.ray.exceptions.RayError):
            taken, self.news_taken = self.ray.get(self.news_taken), self.news.take.remote()
            for kind, index, event in taken:
                if index in self.ended:
                    continue
                if kind == "started":
                    self.board.started(index)
                else:
                    self.board.progress(index, event)

    def _report(self, finished: Finished) -> None:
        self.ended.add(finished.index)
        if self.on_finished(finished) and not self.stopping:
            self._stop_all()  # fail-fast: running runs are interrupted, unstarted ones never start

    def _submit(self, task: Placed) -> None:
        claim = None
        if self.ship:  # the workers cannot claim the run where it will be: this process does
            spec = self.runs[task.job.index]
            claim = take_claim(spec, self.runs_dir)
            done = claim if isinstance(claim, Outcome) else None
            if done is None and not self.force and (done := completed_meanwhile(spec, self.runs_dir)) is not None:
                claim.release()
            if done is not None:
                self._report(Finished(task.job.index, done.status, done.path, done.summary, done.error))
                return
        ref = self.remote.options(num_cpus=task.cpus, num_gpus=task.gpus).remote(
            task.job, None if self.ship else str(self.runs_dir.resolve()), self.command, self.force, os.getcwd(),
            self.news)
        self.waiting[ref] = (task, claim)

    def _collect(self, ref: Any, task: Placed) -> Finished | None:
        """How a task ended: what it returned (its shipped run directory placed here), or why it
        returned nothing; None for a task cancelled before it began (like a job --jobs never
        started, it has no line)."""
        index = task.job.index
        try:
            (status, path, summary, error), shipped = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return None
        except self.ray.exceptions.RayError as err:  # the worker died, or cnnlab failed to load there
            reason = f"the Ray task failed: {_reason(err)}"
            return Finished(index, "failed", self._mark_crashed(task, reason), None, reason)
        if shipped is not None:
            from cnnlab.run.ship import place

            try:
                path = str(place(shipped, self.runs_dir, self.experiment))
            except (OSError, CnnlabError) as err:
                return Finished(index, "failed", None, None, f"the shipped run could not be placed: {err}")
            error = error.replace(shipped.origin, path) if error else error
        return Finished(index, status, Path(path) if path else None, summary, error)

    def _mark_crashed(self, task: Placed, reason: str) -> Path | None:
        """The run directory a dead worker left `running` (shared runs directory only), marked failed;
        under the run's claim, which no live process holds any more."""
        if self.ship:
            return None
        spec = self.runs[task.job.index]
        claim = take_claim(spec, self.runs_dir)
        if isinstance(claim, Outcome):
            return None
        with claim:
            found = runs_by_status(self.experiment, frozenset({"running", "stale"})).get(canonical(spec.resolved()))
            if found is not None:
                with contextlib.suppress(OSError, CnnlabError):
                    RunStore(found).update_meta(status="failed", ended=now_iso(), error=reason)
            return found

    def _stop_all(self) -> None:
        """Tasks not started never start; running ones are interrupted, stop after their step and
        report."""
        self.stopping = True
        for ref in self.waiting:
            self.ray.cancel(ref)

    def _stop_at_once(self, signum: int) -> None:
        """A second signal: each running task is interrupted again and stops at once, still marking its
        run (cnnlab.run.signals); a moment for that, then a local instance is stopped (its processes
        would outlive this one)."""
        with contextlib.suppress(Exception):
            for ref in self.waiting:
                self.ray.cancel(ref)
            if self.waiting:
                self.ray.wait(list(self.waiting), num_returns=len(self.waiting), timeout=EMERGENCY_WAIT_S)
        if self.local:
            with contextlib.suppress(Exception):
                self.ray.shutdown()


def _reason(err: BaseException) -> str:
    cause = getattr(err, "cause", None) or err
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else type(cause).__name__

