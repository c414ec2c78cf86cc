"""What a training run shows while it runs: a Rich progress bar per epoch and one line per epoch,
the same lines written to the run's log.txt; or, for a run of a sweep, progress events for the
sweep's display (cnnlab.run.board), sent from a parallel worker to its parent.

Figures shown during an epoch have to be read back from the training device, which makes the host
wait for it; a reporter says how often it wants them (`refresh_steps`), and only the live displays
want any: the progress bar in a terminal and the sweep's board."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cnnlab.rundir.records import MetricsRow
from cnnlab.rundir.store import RunStore

SHOWN_PER_EPOCH = 20  # progress-bar readings per epoch at most
MIN_STEPS_BETWEEN = 10  # ... and at least this many steps apart


def live_refresh(batches: int) -> int:
    """Steps between two readings of a live display in an epoch of `batches` steps."""
    return max(MIN_STEPS_BETWEEN, batches // SHOWN_PER_EPOCH)


def epoch_line(row: MetricsRow, epochs: int) -> str:
    val = "" if row.val_acc is None else f"  val loss {row.val_loss:.4f}  val acc {row.val_acc:.2%}"
    return (f"epoch {row.epoch:>3}/{epochs}  train loss {row.train_loss:.4f}  "
            f"train acc {row.train_acc:.2%}{val}  lr {row.lr:.3g}  {row.seconds:.1f}s")


class RichReporter:
    """Progress for an interactive terminal (and plain lines when output is not a terminal)."""

    def __init__(self, console: Console, store: RunStore, epochs: int) -> None:
        self.console, self.store, self.epochs = console, store, epochs
        self.progress: Progress | None = None
        self.task = None

    def refresh_steps(self, batches: int) -> int:
        return live_refresh(batches) if self.console.is_terminal else 0

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        self._stop()
        if not self.console.is_terminal:
            return
        self.progress = Progress(
            TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=self.console, transient=True,
        )
        self.task = self.progress.add_task("train", total=batches, stats="")
        self.progress.start()

    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        if self.progress is not None:
            stats = f"loss {loss:.4f}  acc {acc:.2%}  {images_per_s:,.0f} img/s"
            self.progress.update(self.task, completed=done, stats=stats)

    def epoch_done(self, row: MetricsRow) -> None:
        self._stop()
        self.message(epoch_line(row, self.epochs))

    def message(self, text: str) -> None:
        self._stop()
        self.console.print(text, highlight=False, markup=False)
        self.store.log(text)

    def _stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None


@dataclass(frozen=True)
class RunProgress:
    """Where a run of a sweep stands: sent a few times per epoch (plain data, so it pickles)."""

    epoch: int
    epochs: int
    batch: int
    batches: int
    images_per_second: float | None = None
    val_acc: float | None = None  # of the last finished epoch

    @property
    def fraction(self) -> float:
        """Share of the run's training done."""
        return (self.epoch - 1 + self.batch / max(self.batches, 1)) / max(self.epochs, 1)


class LogReporter:
    """Progress into the run's log.txt only: a parallel worker's, while the parent prints one line per run."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.epochs = 0

    def refresh_steps(self, batches: int) -> int:
        return 0

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        self.epochs = epochs

    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        pass

    def epoch_done(self, row: MetricsRow) -> None:
        self.store.log(epoch_line(row, self.epochs))

    def message(self, text: str) -> None:
        self.store.log(text)


class EventReporter(LogReporter):
    """Progress into the run's log.txt, and as RunProgress events to `emit` (the sweep's display, or
    the pipe of a parallel worker to its parent)."""

    def __init__(self, store: RunStore, emit: Callable[[RunProgress], None]) -> None:
        super().__init__(store)
        self.emit = emit
        self.batches = 0
        self.epoch = 0
        self.val_acc: float | None = None

    def refresh_steps(self, batches: int) -> int:
        return live_refresh(batches)

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        super().epoch_started(epoch, epochs, batches)
        self.epoch, self.batches = epoch, batches
        self.emit(RunProgress(epoch, epochs, 0, batches, None, self.val_acc))

    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        self.emit(RunProgress(self.epoch, self.epochs, done, self.batches, images_per_s, self.val_acc))

    def epoch_done(self, row: MetricsRow) -> None:
        super().epoch_done(row)
        self.val_acc = row.val_acc


class QuietReporter:
    """No progress at all: the processes other than rank 0 under torchrun (rank 0 shows the run)."""

    def refresh_steps(self, batches: int) -> int:
        return 0

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None:
        pass

    def epoch_done(self, row: MetricsRow) -> None:
        pass

    def message(self, text: str) -> None:
        pass
