"""The other processes that train a run with this one, as `execute_run` sees them: none (`ALONE`),
or under torchrun the ranks that follow rank 0 (cnnlab.run.torchrun.protocol implements the same
methods). `execute_run` talks to them only through these methods, so that one process and many run
the same code.

`StartTraining` is what rank 0 tells the others when a run is opened; before it, an Outcome instead
tells them that the run does not train (skipped, or it could not be opened).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class StartTraining:
    """Rank 0 to the other processes: train this run (resumed: last.pt's state comes next)."""

    resumed: bool
    precision: str | None  # the precision the run recorded (a resume continues in it)


class Peers(Protocol):
    def world(self) -> Any:
        """The cnnlab.train.distributed.World the trainer trains across."""
        ...

    def tell(self, message: Any) -> None:
        """Rank 0's news to the others: StartTraining, last.pt's state, how the run ended."""
        ...

    def interruptible(self) -> contextlib.AbstractContextManager[None]:
        """Where a first signal may stop the slow start at once (alone); with others, stops are agreed."""
        ...

    def watching(self, on_failure: Callable[[Any], None]) -> contextlib.AbstractContextManager[None]:
        """While inside, another process's failure runs `on_failure(failure)` before this one exits."""
        ...

    def failure(self) -> Any:
        """Another process's failure (cnnlab.train.distributed.Failure), if one failed."""
        ...

    def failed(self, reason: str) -> tuple[str, int | None]:
        """This process failed the run: the others hear why; the error and the rank meta.json records."""
        ...


class Alone:
    """One process: nobody to tell, nothing to agree on."""

    def world(self) -> Any:
        from cnnlab.train.distributed import SINGLE  # torch: only once the run trains

        return SINGLE

    def tell(self, message: Any) -> None:
        pass

    def interruptible(self) -> contextlib.AbstractContextManager[None]:
        from cnnlab.run.signals import STOP

        return STOP.interruptible()

    @contextlib.contextmanager
    def watching(self, on_failure: Callable[[Any], None]) -> Iterator[None]:
        yield

    def failure(self) -> Any:
        return None

    def failed(self, reason: str) -> tuple[str, int | None]:
        return reason, None


ALONE = Alone()
