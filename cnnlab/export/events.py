"""A run as TensorBoard events: per epoch its losses, accuracies and learning rate, per recorded
epoch every layer's diagnostics, at its end summary.json's figures, and the HParams plugin's session
data (the swept values as hyperparameters, how the run ended). The protobufs and the TFRecord framing
are tensorboard's own (no TensorFlow, no torch). One writer for `cnnlab export tensorboard` and for
the training loop's `train.tensorboard` stream (cnnlab.train.tensorboard), so both hold the same.

Tags: loss/train, loss/val, accuracy/train, accuracy/val, learning_rate; diagnostics/<statistic>/<layer>
(epoch 0: at init); histograms/<quantity>/<layer> (the activation's and the gradient's histograms of
distributions.csv, where the run has one); summary/<figure> at the last epoch. Steps are epochs.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from google.protobuf.struct_pb2 import ListValue, Value
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from cnnlab.compare.load import hashable
from cnnlab.compare.query import format_plain
from cnnlab.rundir.records import (
    HISTOGRAM_BINS,
    DiagnosticsRow,
    DistributionRow,
    MetricsRow,
    RunMeta,
    RunSummary,
    bin_statistic,
)
from cnnlab.util.files import atomic_path

EPOCH_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val", "train_acc": "accuracy/train",
              "val_acc": "accuracy/val", "lr": "learning_rate"}  # metrics.csv column → tag
SUMMARY_FIGURES = ("best_val_acc", "best_val_loss", "final_val_acc", "final_train_loss", "test_acc", "test_loss",
                   "test_balanced_acc", "params", "macs", "train_seconds", "images_per_second")
STATUSES = {"completed": api_pb2.STATUS_SUCCESS, "diverged": api_pb2.STATUS_FAILURE,
            "failed": api_pb2.STATUS_FAILURE, "interrupted": api_pb2.STATUS_UNKNOWN, "stale": api_pb2.STATUS_UNKNOWN}
"""How a run ended → the session's status in the HParams tab (a running run has no end yet)."""

Event = event_pb2.Event


def event_file_name(started: float) -> str:
    """The run's one event file: named by the run's start, the same on every export."""
    return f"events.out.tfevents.{int(started)}.cnnlab"


def scalars(wall_time: float, step: int, values: Iterable[tuple[str, float | None]]) -> Event:
    """One event holding the scalars that have a value."""
    return Event(wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[
        summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in values if value is not None]))


def epoch_event(row: MetricsRow, wall_time: float) -> Event:
    return scalars(wall_time, row.epoch, ((tag, getattr(row, column)) for column, tag in EPOCH_TAGS.items()))


def diagnostics_event(rows: Sequence[DiagnosticsRow], wall_time: float) -> Event:
    """The diagnostics of one recorded epoch."""
    return scalars(wall_time, rows[0].epoch, ((f"diagnostics/{r.statistic}/{r.layer}", r.value) for r in rows))


def histograms_event(rows: Sequence[DistributionRow], wall_time: float) -> Event | None:
    """The histograms of one recorded epoch (distributions.csv's low, high and bin masses of each layer
    and quantity) as TensorBoard histograms: the masses as bucket counts (they sum to 1), each bucket's
    limit its bin's right edge; None where the rows hold no histogram."""
    found: dict[tuple[str, str], dict[str, float]] = {}
    for row in rows:
        found.setdefault((row.quantity, row.layer), {})[row.statistic] = row.value
    values = [summary_pb2.Summary.Value(tag=f"histograms/{quantity}/{layer}", histo=_histogram(stats))
              for (quantity, layer), stats in found.items()]
    return Event(wall_time=wall_time, step=rows[0].epoch, summary=summary_pb2.Summary(value=values)) if values else None


def _histogram(stats: Mapping[str, float]) -> summary_pb2.HistogramProto:
    low, high = stats["low"], stats["high"]
    width = (high - low) / HISTOGRAM_BINS
    masses = [stats[bin_statistic(i)] for i in range(HISTOGRAM_BINS)]
    centres = [low + width * (i + 0.5) for i in range(HISTOGRAM_BINS)]
    return summary_pb2.HistogramProto(
        min=low, max=high, num=sum(masses), sum=sum(m * c for m, c in zip(masses, centres, strict=True)),
        sum_squares=sum(m * c * c for m, c in zip(masses, centres, strict=True)),
        bucket_limit=[low + width * (i + 1) for i in range(HISTOGRAM_BINS)], bucket=masses)


def summary_event(summary: RunSummary, wall_time: float) -> Event:
    return scalars(wall_time, summary.epochs_run or 0,
                   ((f"summary/{name}", getattr(summary, name)) for name in SUMMARY_FIGURES))


def timestamp(iso: str | None) -> float:
    """An ISO 8601 time (meta.json's) in seconds since 1970; 0 when unknown."""
    return datetime.fromisoformat(iso).timestamp() if iso else 0.0


def epoch_times(started: float, rows: Sequence[MetricsRow]) -> dict[int, float]:
    """When each epoch ended, as the run's own files tell it (so every export writes the same): its
    start plus the seconds of its epochs so far; epoch 0 (init) at the start."""
    times, at = {0: started}, started
    for row in rows:
        at += row.seconds or 0.0
        times[row.epoch] = at
    return times


def history(started: float, rows: Sequence[MetricsRow], diagnostics: Sequence[DiagnosticsRow],
            histograms: Sequence[DistributionRow] = ()) -> list[Event | None]:
    """The events of the epochs a run recorded, in order: the diagnostics and histograms at init, then
    each epoch's scalars with its diagnostics and histograms where it recorded them."""
    times = epoch_times(started, rows)
    recorded = by_epoch(diagnostics)
    drawn = by_epoch(histograms)
    events = recorded_events(recorded.get(0, ()), drawn.get(0, ()), started)
    for row in rows:
        events.append(epoch_event(row, times[row.epoch]))
        events += recorded_events(recorded.get(row.epoch, ()), drawn.get(row.epoch, ()), times[row.epoch])
    return events


def recorded_events(diagnostics: Sequence[DiagnosticsRow], histograms: Sequence[DistributionRow],
                    wall_time: float) -> list[Event | None]:
    """What one recorded epoch adds: its diagnostics, its histograms (None where there are none)."""
    return [diagnostics_event(diagnostics, wall_time) if diagnostics else None,
            histograms_event(histograms, wall_time) if histograms else None]


def by_epoch(rows: Iterable[Any]) -> dict[int, list]:
    """Rows of a tidy record (diagnostics.csv, the histograms of distributions.csv) by their epoch."""
    found: dict[int, list] = {}
    for row in rows:
        found.setdefault(row.epoch, []).append(row)
    return found


def run_hparams(meta: RunMeta) -> dict[str, Any]:
    """A run's hyperparameters in the HParams tab: the sweep values that made it, and its seed."""
    return {**{key: hashable(value) for key, value in meta.swept.items()}, "seed": meta.seed}


def configuration(meta: RunMeta) -> str:
    """The configuration a run is one seed of (its session group): its experiment and swept values."""
    return " ".join([meta.name, *(f"{key}={format_plain(hashable(value))}" for key, value in meta.swept.items())])


def _plugin_event(tag: str, data: plugin_data_pb2.HParamsPluginData, wall_time: float) -> Event:
    value = summary_pb2.Summary.Value(tag=tag, metadata=metadata.create_summary_metadata(data),
                                      tensor=metadata.NULL_TENSOR)
    return Event(wall_time=wall_time, summary=summary_pb2.Summary(value=[value]))


def hparam_value(value: Any) -> Value:
    """A hyperparameter's value as the HParams plugin holds it: a number, a bool, or text."""
    if isinstance(value, bool):
        return Value(bool_value=value)
    if isinstance(value, (int, float)):
        return Value(number_value=value)
    return Value(string_value=value if isinstance(value, str) else format_plain(value))


def of_one_kind(values: Sequence[Any]) -> list[Any]:
    """The values one hyperparameter takes over runs, as the plugin can compare them: numbers or bools
    when all are, otherwise all as text (lists and null as `cnnlab compare` writes them)."""
    if all(isinstance(v, bool) for v in values) or all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                       for v in values):
        return list(values)
    return [v if isinstance(v, str) else format_plain(v) for v in values]


def session_start(hparams: Mapping[str, Any], group: str, started: float) -> Event:
    """The HParams plugin's record of a run: its hyperparameters; `group`: the configuration, whose
    seeds the HParams tab puts together."""
    info = plugin_data_pb2.SessionStartInfo(group_name=group, start_time_secs=started)
    for name, value in hparams.items():
        info.hparams[name].CopyFrom(hparam_value(value))
    return _plugin_event(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=info),
                         started)


def session_end(status: str, ended: float) -> Event | None:
    if status not in STATUSES:
        return None
    info = plugin_data_pb2.SessionEndInfo(status=STATUSES[status], end_time_secs=ended)
    return _plugin_event(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=info), ended)


def experiment(hparams: Mapping[str, Sequence[Any]], tags: Iterable[str], created: float) -> Event:
    """The HParams tab's columns: every hyperparameter with the values it takes (of one kind: see
    of_one_kind), and the metrics."""
    infos = [api_pb2.HParamInfo(name=name, type=HPARAM_TYPES[hparam_value(values[0]).WhichOneof("kind")],
                                domain_discrete=ListValue(values=[hparam_value(v) for v in values]))
             for name, values in hparams.items() if values]
    metrics = [api_pb2.MetricInfo(name=api_pb2.MetricName(tag=tag)) for tag in tags]
    data = plugin_data_pb2.HParamsPluginData(experiment=api_pb2.Experiment(
        hparam_infos=infos, metric_infos=metrics, time_created_secs=created))
    return _plugin_event(metadata.EXPERIMENT_TAG, data, created)


HPARAM_TYPES = {"number_value": api_pb2.DATA_TYPE_FLOAT64, "bool_value": api_pb2.DATA_TYPE_BOOL,
                "string_value": api_pb2.DATA_TYPE_STRING}
PARTIAL = "cnnlab-events.partial"  # no "tfevents" in its name: TensorBoard never reads a file half written


class EventFile:
    """One event file: `write_new` makes it whole (atomically: a reader never sees half of it),
    `append` adds events to it as they happen."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write_new(self, events: Iterable[Event | None], wall_time: float) -> None:
        buffer = io.BytesIO()
        _write(RecordWriter(buffer), [Event(wall_time=wall_time, file_version="brain.Event:2"), *events])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(PARTIAL)
        with atomic_path(partial) as tmp:
            tmp.write_bytes(buffer.getvalue())
        os.replace(partial, self.path)

    def append(self, events: Iterable[Event | None]) -> None:
        with open(self.path, "ab") as file:
            _write(RecordWriter(file), events)


def _write(writer: RecordWriter, events: Iterable[Event | None]) -> None:
    for event in events:
        if event is not None:
            writer.write(event.SerializeToString())
    writer.flush()
