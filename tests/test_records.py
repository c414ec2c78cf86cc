"""The run records: what the trainer writes is what every reader reads, a file of a newer schema is
refused, and a malformed file is one line naming it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnlab.rundir.csv_files import METRIC_COLUMNS, parse_metrics
from cnnlab.rundir.records import (
    SCHEMA_VERSION,
    MetricsRow,
    Monitor,
    NewerRecord,
    RecordError,
    RunMeta,
    RunSummary,
    epoch_figures,
    json_text,
    read_json_record,
)
from cnnlab.rundir.store import RunStore
from tests.conftest import WRITTEN

ROWS = [
    MetricsRow(epoch=1, train_loss=1.2, train_acc=0.5, val_loss=1.0, val_acc=0.6, lr=0.1, seconds=2.0),
    MetricsRow(epoch=2, train_loss=0.8, train_acc=0.7, val_loss=0.7, val_acc=0.75, lr=0.05, seconds=2.5),
    MetricsRow(epoch=3, train_loss=0.6, train_acc=0.8, val_loss=0.9, val_acc=0.74, lr=0.01, seconds=2.5),
]


def test_records_round_trip_through_a_run_directory(tmp_path: Path):
    store = RunStore.create(tmp_path, "exp", lambda: "run-1")
    meta = RunMeta(**{**WRITTEN, "status": "running", "run_id": "run-1", "name": "exp", "seed": 3,
                      "swept": {"model.activation": "tanh"}})
    store.write("meta.json", meta)
    store.write_metrics(ROWS)
    summary = RunSummary(**epoch_figures(ROWS, Monitor()), test_acc=0.7, params=10)
    store.write("summary.json", summary)
    assert store.read("meta.json", RunMeta) == meta
    assert store.read("summary.json", RunSummary) == summary
    rows, bad = parse_metrics(store.file("metrics.csv").read_text(), "metrics.csv")
    assert rows == ROWS and bad == 0
    assert store.file("metrics.csv").read_text().splitlines()[0] == ",".join(METRIC_COLUMNS)
    assert store.update_meta(status="completed").status == "completed"
    assert store.read("meta.json", RunMeta).seed == 3


def test_a_field_added_within_the_schema_is_ignored_and_a_newer_schema_is_refused(tmp_path: Path):
    path = tmp_path / "summary.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION, "test_acc": 0.5, "a_field_from_the_future": [1]}))
    assert read_json_record(path, RunSummary).test_acc == 0.5
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "test_acc": "a number no more"}))
    with pytest.raises(NewerRecord) as caught:
        read_json_record(path, RunSummary)
    assert str(caught.value) == (f"{path}: written by a newer cnnlab (schema {SCHEMA_VERSION + 1}; this one reads "
                                 f"{SCHEMA_VERSION}): upgrade cnnlab")
    assert json.loads(json_text(RunSummary()))["schema_version"] == SCHEMA_VERSION  # what cnnlab writes says it


@pytest.mark.parametrize(
    ("text", "problem"),
    [("{", "not valid JSON"), ('{"status": "asleep"}', "malformed (status"), ("[1, 2]", "malformed"),
     ('{"params": 1e400}', "malformed (params")],
)
def test_a_malformed_record_is_one_line_naming_the_file(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "summary.json" if "params" in text else tmp_path / "meta.json"
    path.write_text(text)
    cls = RunSummary if "params" in text else RunMeta
    with pytest.raises(RecordError) as caught:
        read_json_record(path, cls)
    assert str(caught.value).startswith(f"{path}: {problem}") and "\n" not in str(caught.value)


def test_the_monitor_picks_the_epoch_the_trainer_picks():
    """best_val_acc is the figure of the monitored epoch, not the best figure of any epoch."""
    assert Monitor("val_acc").best_epoch(ROWS) == 2
    assert Monitor("val_loss").best_epoch(ROWS) == 2
    assert Monitor("val_acc", min_delta=0.2).best_epoch(ROWS) == 1  # +0.15 is no improvement by more than 0.2
    figures = epoch_figures(ROWS, Monitor("val_loss"))
    assert figures["best_val_acc"] == 0.75 and figures["final_val_acc"] == 0.74 and figures["epochs_run"] == 3
    assert figures["train_seconds"] == pytest.approx(7.0)
    no_val = [row.model_copy(update={"val_acc": None, "val_loss": None}) for row in ROWS]
    assert Monitor().best_epoch(no_val) == 3  # without a validation split, best is last


def test_metrics_rows_that_cannot_be_read_are_counted_and_a_resumed_epoch_replaces_the_first():
    text = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,1.0,0.5,,,0.1,1\n1,0.9,0.6,,,0.1,1\nx,y\n"
    rows, bad = parse_metrics(text, "metrics.csv")
    assert [r.train_loss for r in rows] == [0.9] and rows[0].val_acc is None and bad == 1
    with pytest.raises(RecordError, match="no epoch column"):
        parse_metrics("a,b\n1,2\n", "metrics.csv")
