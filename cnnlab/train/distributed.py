"""One run across several processes started by torchrun: where this process stands among them (its
rank), and what they do together.

The ranks train one model with DistributedDataParallel (Li et al., 2020, "PyTorch Distributed"):
each holds the whole model, computes the gradient of its own slice of every global batch, and the
gradients are averaged across ranks before each optimizer step, so the weights stay identical on
every rank. NCCL carries the tensors between GPUs, gloo between CPU processes and the small control
messages of every run (which runs to train, when to stop).

Every decision that changes what the ranks do next is taken together, so that they all take the
same path: rank 0 alone plans the runs and writes the run directory and broadcasts what the others
need; a stop request is agreed at fixed points (`agree_stop`); metrics are summed across ranks
before anyone reads them. A failure cannot be agreed on (the failing rank is gone), so it goes through
torchrun's key-value store: the failing rank writes why, and a thread on every rank watches for it
(rank 0 marks the run `failed` naming the rank, then every rank exits).

With one process (no torchrun), `SINGLE` stands for the world and every operation here is free.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.distributed as dist

from cnnlab.data.pipeline import Shard
from cnnlab.errors import CnnlabError, RemoteError
from cnnlab.train.device import DeviceError, resolve_device

WATCH_S = 0.5  # how often every rank looks for another rank's failure


@dataclass(frozen=True)
class Failure:
    """A rank that failed: which, why (one line), and its traceback."""

    rank: int
    reason: str
    details: str = ""


@dataclass
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    _store: Any = field(default=None, repr=False)
    _on_failure: list[Callable[[Failure], None]] = field(default_factory=list, repr=False)
    _watching: threading.Event = field(default_factory=threading.Event, repr=False)  # set: the watch ends
    _watcher: threading.Thread | None = field(default=None, repr=False)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that prints, plans and writes."""
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.size)

    @classmethod
    def join(cls) -> World:
        """This process's place in the job torchrun started (RANK, WORLD_SIZE, LOCAL_RANK), with the
        process group set up: NCCL for CUDA tensors and gloo for the rest when there are GPUs."""
        world = cls(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", 0)))
        if torch.cuda.is_available():
            torch.cuda.set_device(world.local_rank % torch.cuda.device_count())
        dist.init_process_group("cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo")
        # torchrun's store (the rendezvous'): reachable from every rank while torchrun lives.
        world._store = dist.distributed_c10d._get_default_store()
        world._watcher = threading.Thread(target=world._watch, daemon=True, name="cnnlab-rank-watch")
        world._watcher.start()
        return world

    def leave(self) -> None:
        """End the watch for failures, then the process group: a watch still asking the store while the
        interpreter shuts down aborted a process after its runs had completed (C++ terminate)."""
        if self._watcher is not None:
            self._watching.set()
            self._watcher.join()
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()

    # ------------------------------------------------------------------ devices

    def device(self, name: str) -> torch.device:
        """The device this rank trains on: `train.device`, or under torchrun the GPU of its local rank."""
        if self.size == 1:
            return resolve_device(name)
        if name.startswith("cuda:") or name == "mps":
            raise DeviceError(f"train.device: {name} under torchrun: each process takes the GPU of its local rank "
                              f"(device: cuda or auto), or trains on the CPU (device: cpu)")
        if name == "cpu" or not torch.cuda.is_available():
            return resolve_device("cpu" if name == "auto" else name)  # device: cuda without a GPU is refused
        return torch.device("cuda", self.local_rank % torch.cuda.device_count())

    def backend(self, device: torch.device) -> str | None:
        """What carries the gradients between the processes (None: one process)."""
        return None if self.size == 1 else "nccl" if device.type == "cuda" else "gloo"

    def parallel(self, model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
        """The module that trains: DistributedDataParallel over the ranks, or the model itself. Buffers
        (batch norm's running statistics) are not broadcast at every step: rank 0's are the ones that
        count, sent to the others before every evaluation and checkpoint (`sync_buffers`)."""
        if self.size == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # `forward_sync_buffers` replaces `broadcast_buffers` in newer PyTorch; both stay off.
        no_sync = "forward_sync_buffers" if "forward_sync_buffers" in inspect.signature(
            DistributedDataParallel).parameters else "broadcast_buffers"
        return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                       **{no_sync: False})

    # ------------------------------------------------------------------ collectives (free with one process)

    def broadcast(self, value: Any = None) -> Any:
        """Rank 0's `value`, on every rank."""
        if self.size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def share(self, decide: Callable[[], Any]) -> Any:
        """What `decide()` returns on rank 0, on every rank; a user error rank 0 meets is raised on every
        rank (the others do not call `decide`)."""
        if self.size == 1:
            return decide()
        result = error = None
        if self.is_main:
            try:
                result = decide()
            except CnnlabError as err:
                error = err
        shared_result, shared_error = self.broadcast((result, None if error is None else str(error)))
        if error is not None:
            raise error
        if shared_error is not None:
            raise RemoteError(shared_error)
        return shared_result

    def check(self, check: Callable[[], Any]) -> None:
        """Run `check` on every rank; a user error it raises on any rank (the lowest's) is raised on all
        (a machine of the job without the GPU the spec asks for stops every process, not one)."""
        if self.size == 1:
            check()
            return
        try:
            check()
            problem = None
        except CnnlabError as err:
            problem = str(err)
        problems = [None] * self.size
        dist.all_gather_object(problems, problem)
        first = next(((rank, text) for rank, text in enumerate(problems) if text is not None), None)
        if first is not None:  # rank 0 says it; the others exit with it quietly
            rank, text = first
            text = text if rank == 0 else f"rank {rank}: {text}"
            raise CnnlabError(text) if self.is_main else RemoteError(text)

    def gather(self, value: Any) -> list[Any] | None:
        """Every rank's `value`, in rank order, on rank 0 (None on the others)."""
        if self.size == 1:
            return [value]
        values = [None] * self.size if self.is_main else None
        dist.gather_object(value, values, dst=0)
        return values

    def total(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of `tensor` over the ranks (a new tensor)."""
        if self.size == 1:
            return tensor.clone()
        out = tensor.clone()
        dist.all_reduce(out)
        return out

    def totals(self, *tensors: torch.Tensor) -> list[float]:
        """Sums over the ranks of a few scalars, read to the host at once (one synchronisation)."""
        stacked = torch.stack([t.to(torch.float64) for t in tensors])
        if self.size > 1:
            dist.all_reduce(stacked)
        return stacked.tolist()

    def agree_stop(self, signum: int | None) -> int | None:
        """The stop request of any rank (the highest signal number), on every rank: all stop at the same step."""
        if self.size == 1:
            return signum
        flag = torch.tensor([signum or 0])
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag) or None

    def sync_buffers(self, module: torch.nn.Module) -> None:
        """Rank 0's buffers (batch norm's running statistics) on every rank."""
        if self.size > 1:
            for buffer in module.buffers():
                dist.broadcast(buffer, src=0)

    def sync_module(self, module: torch.nn.Module) -> None:
        """Rank 0's weights and buffers on every rank (after rank 0 loaded a checkpoint)."""
        if self.size > 1:
            for tensor in module.state_dict().values():
                dist.broadcast(tensor, src=0)

    @contextlib.contextmanager
    def main_first(self) -> Iterator[None]:
        """The first process of each machine goes first (a download, a cache to write), the others after."""
        if self.size > 1 and self.local_rank != 0:
            dist.barrier()
        yield
        if self.size > 1 and self.local_rank == 0:
            dist.barrier()

    # ------------------------------------------------------------------ failures

    def _key(self, rank: int | None = None) -> str:
        restart = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")  # a restarted group starts clean
        return f"cnnlab/{restart}/failed" + ("" if rank is None else f"/{rank}")

    def fail(self, reason: str, details: str = "") -> None:
        """Tell every rank that this one failed, and why (the run ends `failed` naming it; `details`, a
        traceback, goes to the run's log.txt)."""
        if self.size > 1:
            with contextlib.suppress(Exception):  # torchrun gone: it stops the others itself
                self._store.set(self._key(self.rank), json.dumps({"reason": reason, "details": details}))
                self._store.add(self._key(), 1)

    def peer_failure(self) -> Failure | None:
        """The failure of another rank, if one failed."""
        if self.size == 1:
            return None
        try:
            if not self._store.add(self._key(), 0):
                return None
            for rank in range(self.size):
                if rank != self.rank and self._store.check([self._key(rank)]):
                    said = json.loads(self._store.get(self._key(rank)))
                    return Failure(rank, said["reason"], said["details"])
        except Exception:  # torchrun's store is gone: torchrun itself is ending the job
            return None
        return None

    @contextlib.contextmanager
    def on_peer_failure(self, action: Callable[[Failure], None]) -> Iterator[None]:
        """While inside, another rank's failure runs `action(failure)` (rank 0: mark the run) before
        this process exits."""
        self._on_failure.append(action)
        try:
            yield
        finally:
            self._on_failure.remove(action)

    def _watch(self) -> None:
        """Thread: when another rank fails, this one cannot go on (the next collective would wait for
        ever): run the failure actions, then exit with status 1."""
        while not self._watching.wait(WATCH_S):
            found = self.peer_failure()
            if found is None:
                continue
            for action in reversed(self._on_failure):
                with contextlib.suppress(BaseException):
                    action(found)
            with contextlib.suppress(OSError):
                os.write(2, f"cnnlab (rank {self.rank}): rank {found.rank} failed ({found.reason}); every process "
                            f"stops\n".encode())
            sys.stdout.flush()
            os._exit(1)


SINGLE = World()
