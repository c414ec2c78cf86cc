"""The Ray task of each planned run: the resources it asks the cluster for, and the device and
threads it trains with there."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cnnlab.run.jobs import Job
from cnnlab.run.plan import PlannedRun
from cnnlab.run.request import RayOptions


@dataclass(frozen=True)
class RayTask:
    """A job with the resources its task asks for."""

    job: Job
    cpus: int
    gpus: float


def plan_tasks(todo: Sequence[PlannedRun], options: RayOptions, cluster_gpus: float) -> list[RayTask]:
    """Each run's task: C CPUs (--cpus-per-run, else the spec's train.threads, else 1) and as many
    torch threads unless the spec fixes them; G GPUs (--gpus-per-run, else 1 when the spec's device
    is cuda, or auto on a cluster with GPUs; else 0). A run given a GPU trains on the one Ray
    assigned it (its `cuda`); one given none trains on the CPU even when its device is auto."""
    out = []
    for i, planned in enumerate(todo):
        train = planned.run.spec.train
        cpus = options.cpus_per_run or train.threads or 1
        if options.gpus_per_run is not None:
            gpus = options.gpus_per_run
        else:
            gpus = 1.0 if train.device.startswith("cuda") or (train.device == "auto" and cluster_gpus > 0) else 0.0
        job = Job(i, planned.run, train.threads or cpus, device_in_task(train.device, gpus), planned.resume)
        out.append(RayTask(job, cpus, gpus))
    return out


def device_in_task(device: str, gpus: float) -> str | None:
    """The device a task trains on, where it is not the spec's (the recorded spec keeps its own)."""
    if gpus > 0:
        return "cuda" if device.startswith("cuda") else None  # the GPU Ray assigned is the task's cuda:0
    return "cpu" if device == "auto" else None  # never a GPU that Ray gave another task
