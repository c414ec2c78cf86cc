"""What the processes of one torchrun job tell each other about runs, in one object: the plan rank 0
makes, the devices every rank checks, the stop they agree on, rank 0's news of each run (start
training, last.pt's state, how the run ended), and a rank's failure.

Rank 0's `execute_run` uses it as its `peers` (cnnlab.run.peers); the other ranks hear through it
(cnnlab.run.torchrun.follower). Collectives must come in the same order on every process, which the
shared loop of cnnlab.run.in_process guarantees: every rank asks to stop before each run, and every
rank hears how each run ended.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from cnnlab.run.signals import STOP
from cnnlab.train.distributed import World


class TorchrunProtocol:
    def __init__(self, world: World) -> None:
        self._world = world

    @classmethod
    def join(cls) -> TorchrunProtocol:
        """Join the process group torchrun set up this process for."""
        return cls(World.join())

    @property
    def is_main(self) -> bool:
        return self._world.is_main

    def world(self) -> World:
        return self._world

    def leave(self) -> None:
        self._world.leave()

    # ------------------------------------------------------------------ before the runs

    def share(self, decide: Callable[[], Any]) -> Any:
        """What `decide()` returns on rank 0, on every rank (a user error rank 0 meets, raised on all)."""
        return self._world.share(decide)

    def check_devices(self, devices: list[str]) -> None:
        """Every rank has the devices the runs name (a user error on any rank stops all of them)."""
        self._world.check(lambda: [self._world.device(name) for name in devices])

    def agree_stop(self) -> int | None:
        """The stop any rank was asked for, on every rank (all stop before the same run)."""
        signum = self._world.agree_stop(STOP.requested())
        if signum is not None:
            STOP.adopt(signum)
        return signum

    # ------------------------------------------------------------------ rank 0 during a run (Peers)

    def tell(self, message: Any) -> None:
        self._world.broadcast(message)

    def interruptible(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()  # every stop is agreed, at the same step

    def watching(self, on_failure: Callable[[Any], None]) -> contextlib.AbstractContextManager[None]:
        return self._world.on_peer_failure(on_failure)

    def failure(self) -> Any:
        return self._world.peer_failure()

    def failed(self, reason: str, details: str = "") -> tuple[str, int | None]:
        """This rank failed the run: the others stop (their watch ends them), and hear why."""
        self._world.fail(reason, details)
        return f"rank {self._world.rank}: {reason}", self._world.rank

    # ------------------------------------------------------------------ the other ranks

    def hear(self) -> Any:
        """Rank 0's next message."""
        return self._world.broadcast()
