"""The Ray scheduler, on the driver: connect, plan the tasks and where their run directories go,
then submit them, pass their news to the board, collect how each ended (placing shipped run
directories), and stop them as the stop policy says."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from cnnlab.errors import CnnlabError, UsageError
from cnnlab.run.board import shown_path
from cnnlab.run.existing import runs_by_status
from cnnlab.run.ledger import Ledger, Tally
from cnnlab.run.opening import completed_meanwhile, take_claim
from cnnlab.run.outcome import Outcome
from cnnlab.run.plan import Plan
from cnnlab.run.policy import StopPolicy
from cnnlab.run.ray_backend.cluster import check_fits, connected, every_node_sees, require_ray, resource, task_error
from cnnlab.run.ray_backend.ship import place
from cnnlab.run.ray_backend.tasks import RayTask, plan_tasks
from cnnlab.run.ray_backend.worker import ProgressInbox, ray_task
from cnnlab.run.report import print_warnings
from cnnlab.run.request import RayOptions
from cnnlab.run.scheduler import Scheduler
from cnnlab.run.signals import STOP
from cnnlab.rundir.liveness import now_iso
from cnnlab.rundir.store import RunStore
from cnnlab.spec.identity import canonical
from cnnlab.util.text import plural

POLL_S = 0.25  # how often the driver looks for a stop request while it waits for tasks
EMERGENCY_WAIT_S = 3.0  # after a second signal, for the tasks to mark their runs before this process exits


class RayScheduler(Scheduler):
    """Connected to the cluster (or a local instance started) at its first plan, until the command ends:
    the rounds of --until-decided share one connection."""

    def __init__(self, options: RayOptions) -> None:
        require_ray()
        self.options = options
        self._connection = contextlib.ExitStack()
        self._where: str | None = None  # how to name the cluster, once connected

    def in_process(self, plan: Plan) -> bool:
        return False

    def __exit__(self, *exc: object) -> None:
        self._connection.close()

    def run(self, plan: Plan, policy: StopPolicy, reporter: Any) -> Tally:
        import ray

        options = self.options
        if self._where is None:
            self._where = self._connection.enter_context(connected(ray, options.address))
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        gpus = sum(resource(n, "GPU") for n in nodes)
        tasks = plan_tasks(plan.todo, options, gpus)
        check_fits(tasks, nodes)
        ship = options.ship
        if ship is None:
            ship = options.address is not None and not every_node_sees(
                ray, lambda text: print_warnings([text]), plan.runs_dir, tasks, nodes)
        if ship and any(t.job.resume for t in tasks):
            raise UsageError("--resume with --backend ray needs a --runs-dir that every Ray node sees (a shipped "
                             "run cannot continue on a worker); resume these runs without --backend ray")
        cpus = int(sum(resource(n, "CPU") for n in nodes))
        at_a_time = max(1, min(len(tasks), cpus // max(t.cpus for t in tasks)))
        ledger = Ledger(plan, policy, reporter)
        with reporter.begin(_description(plan, tasks, self._where, cpus, gpus, ship), at_a_time):
            RayRuns(ray, plan, ledger, tasks, ship, local=options.address is None).run()
        return ledger.tally()


def _description(plan: Plan, tasks: list[RayTask], where: str, cpus: int, gpus: float, ship: bool) -> str:
    """`4 runs on Ray (a local instance: 2 CPUs), 1 CPU each, into runs/x/, written by the workers`."""
    each = {(t.cpus, t.gpus) for t in tasks}
    per_run = (f"{plural(tasks[0].cpus, 'CPU')}" + (f" and {tasks[0].gpus:g} GPU" if tasks[0].gpus else "")
               if len(each) == 1 else "resources per run from each spec")
    cluster = f"{where}: {plural(cpus, 'CPU')}" + (f", {gpus:g} GPUs" if gpus else "")
    written = "shipped back here" if ship else "written by the workers"
    return (f"{plural(len(tasks), 'run')} on Ray ({cluster}), {per_run} each, into {shown_path(plan.folder)}/, "
            f"{written}")


class RayRuns:
    """The tasks of one plan, from submission to the last report."""

    def __init__(self, ray: Any, plan: Plan, ledger: Ledger, tasks: list[RayTask], ship: bool, local: bool) -> None:
        self.ray, self.plan, self.ledger, self.tasks, self.ship = ray, plan, ledger, tasks, ship
        self.local = local  # a Ray instance of this process's own, to stop before exiting at once
        self.inbox = ray.remote(num_cpus=0)(ProgressInbox).remote()
        self.news = self.inbox.take.remote()  # the next batch of news, asked for
        self.ended: set[int] = set()  # runs reported: news of them that comes late is dropped
        self.remote = ray.remote(max_retries=0)(ray_task)  # a crashed run is failed, as with --jobs; never rerun
        self.waiting: dict[Any, tuple[RayTask, Any]] = {}  # task ref → (its task, the claim held here when shipped)
        self.stopping = False

    def run(self) -> None:
        with STOP.deferred(), STOP.on_emergency(self.stop_at_once):
            for task in self.tasks:
                if self.ledger.stopping():
                    break
                self.submit(task)
            while self.waiting:
                if self.ledger.stopping() and not self.stopping:
                    self.stop_all()
                ready, _ = self.ray.wait(list(self.waiting), num_returns=1, timeout=POLL_S)
                self.pass_news()
                for ref in ready:
                    task, claim = self.waiting.pop(ref)
                    try:
                        outcome = self.collect(ref, task)
                    finally:
                        if claim is not None:
                            claim.release()
                    if outcome is not None:
                        self.report(task.job.index, outcome)

    def pass_news(self) -> None:
        """The tasks' starts and progress, to the board."""
        ready, _ = self.ray.wait([self.news], timeout=0)
        if not ready:
            return
        with contextlib.suppress(self.ray.exceptions.RayError):
            taken, self.news = self.ray.get(self.news), self.inbox.take.remote()
            for kind, index, event in taken:
                if index in self.ended:
                    continue
                if kind == "started":
                    self.ledger.started(index)
                else:
                    self.ledger.progress(index, event)

    def report(self, index: int, outcome: Outcome) -> None:
        self.ended.add(index)
        if self.ledger.finished(index, outcome) and not self.stopping:
            self.stop_all()  # fail-fast: running runs are interrupted, unstarted ones never start

    def submit(self, task: RayTask) -> None:
        claim = None
        if self.ship:  # the workers cannot claim the run where it will be: this process does
            run, runs_dir = task.job.run, self.plan.runs_dir
            claim = take_claim(run, runs_dir)
            done = claim if isinstance(claim, Outcome) else None
            if done is None and not self.plan.force and (done := completed_meanwhile(run, runs_dir)) is not None:
                claim.release()
            if done is not None:
                self.report(task.job.index, done)
                return
        ref = self.remote.options(num_cpus=task.cpus, num_gpus=task.gpus).remote(
            task.job, None if self.ship else str(self.plan.runs_dir.resolve()), list(self.plan.command),
            self.plan.force, os.getcwd(), self.inbox)
        self.waiting[ref] = (task, claim)

    def collect(self, ref: Any, task: RayTask) -> Outcome | None:
        """How a task ended: what it returned (its shipped run directory placed here), or why it
        returned nothing; None for a task cancelled before it began (like a job --jobs never
        started, it has no line)."""
        try:
            outcome, shipped = self.ray.get(ref)
        except self.ray.exceptions.TaskCancelledError:
            return None
        except self.ray.exceptions.RayError as err:  # the worker died, or cnnlab failed to load there
            reason = f"the Ray task failed: {task_error(err)}"
            return Outcome("failed", self.mark_crashed(task, reason), None, reason)
        if shipped is None:
            return outcome
        try:
            path = place(shipped, self.plan.runs_dir, self.plan.folder.resolve())
        except (OSError, CnnlabError) as err:
            return Outcome("failed", None, None, f"the shipped run could not be placed: {err}")
        error = outcome.error.replace(shipped.origin, str(path)) if outcome.error else outcome.error
        return Outcome(outcome.status, path, outcome.summary, error)

    def mark_crashed(self, task: RayTask, reason: str) -> Path | None:
        """The run directory a dead worker left `running` (shared runs directory only), marked failed;
        under the run's claim, which no live process holds any more."""
        if self.ship:
            return None
        run = task.job.run
        claim = take_claim(run, self.plan.runs_dir)
        if isinstance(claim, Outcome):
            return None
        with claim:
            running = runs_by_status(self.plan.folder.resolve(), frozenset({"running", "stale"}))
            found = running.get(canonical(run.resolved()))
            if found is not None:
                with contextlib.suppress(OSError, CnnlabError):
                    RunStore(found).update_meta(status="failed", ended=now_iso(), error=reason)
            return found

    def stop_all(self) -> None:
        """Tasks not started never start; running ones are interrupted, stop after their step and
        report."""
        self.stopping = True
        for ref in self.waiting:
            self.ray.cancel(ref)

    def stop_at_once(self, signum: int) -> None:
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
