"""`train.tensorboard: true`: a run's TensorBoard events streamed into its run directory's
tensorboard/ folder as its epochs end, so that `tensorboard --logdir runs` follows a sweep while it
trains. The events are those `cnnlab export tensorboard` writes (cnnlab.export.events); a resumed run
starts its file anew from what it had recorded at its checkpoint."""

from __future__ import annotations

import time
from collections.abc import Sequence

from cnnlab.rundir.records import DiagnosticsRow, DistributionRow, MetricsRow, RunSummary
from cnnlab.rundir.store import RunStore

FOLDER = "tensorboard"


class NoStream:
    """train.tensorboard off, or a process that writes nothing (torchrun's ranks other than 0)."""

    def start(self, rows: Sequence[MetricsRow], diagnostics: Sequence[DiagnosticsRow],
              histograms: Sequence[DistributionRow]) -> None:
        pass

    def epoch(self, row: MetricsRow, diagnostics: Sequence[DiagnosticsRow],
              histograms: Sequence[DistributionRow]) -> None:
        pass

    def end(self, summary: RunSummary) -> None:
        pass


class Stream(NoStream):
    def __init__(self, store: RunStore) -> None:
        from cnnlab.export import events  # tensorboard's protobufs: only for a run that streams

        self.events, meta = events, store.read_meta()
        self.meta, self.started = meta, events.timestamp(meta.started)
        self.file = events.EventFile(store.file(FOLDER) / events.event_file_name(self.started))

    def start(self, rows: Sequence[MetricsRow], diagnostics: Sequence[DiagnosticsRow],
              histograms: Sequence[DistributionRow]) -> None:
        """The file anew: the run's session and what it recorded so far (a resumed run's epochs)."""
        ev = self.events
        session = ev.session_start(ev.run_hparams(self.meta), ev.configuration(self.meta), self.started)
        self.file.write_new([session, *ev.history(self.started, rows, diagnostics, histograms)], self.started)

    def epoch(self, row: MetricsRow, diagnostics: Sequence[DiagnosticsRow],
              histograms: Sequence[DistributionRow]) -> None:
        now = time.time()
        self.file.append([self.events.epoch_event(row, now),
                          *self.events.recorded_events(diagnostics, histograms, now)])

    def end(self, summary: RunSummary) -> None:
        now = time.time()
        status = "diverged" if summary.diverged else "completed"
        self.file.append([self.events.summary_event(summary, now), self.events.session_end(status, now)])


def stream(on: bool, store: RunStore | None) -> NoStream:
    """Where the trainer tells the end of each epoch: a Stream when `on` and this process writes."""
    return Stream(store) if on and store is not None else NoStream()
