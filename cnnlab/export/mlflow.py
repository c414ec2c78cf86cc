"""`cnnlab export mlflow RUNS --tracking-uri URI`: one MLflow run per cnnlab run, in the MLflow
experiment of the run's own name (or --experiment NAME).

  params     the resolved spec, flattened (`model.conv.0.kernel_size`: MLflow's names have no brackets)
  metrics    metrics.csv's columns with the epoch as step; summary.json's figures at the last epoch
  tags       cnnlab.run_id (what a re-export matches on), cnnlab.status, cnnlab.experiment
  artifacts  spec.yaml and summary.json; checkpoints/best.pt of a finished run with `checkpoints`

A re-export finds each run by its cnnlab.run_id tag and adds only what is new (epochs trained since,
a new status, a summary written since): it never makes a second MLflow run nor a second point of a
metric at the same step. Metric timestamps come from the run's own files (its start and the seconds
of its epochs), so the same run exported twice is the same record.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlab.compare.load import Run, load_runs
from cnnlab.compare.query import format_plain
from cnnlab.export.errors import ExportError, writing
from cnnlab.rundir.csv_files import METRIC_COLUMNS
from cnnlab.rundir.records import FINISHED
from cnnlab.util.extras import require

RUN_TAG = "cnnlab.run_id"
STATUSES = {"completed": "FINISHED", "diverged": "FAILED", "failed": "FAILED", "interrupted": "KILLED",
            "stale": "KILLED"}  # a cnnlab status → the MLflow run's; a running run stays RUNNING
SUMMARY_FIGURES = ("best_val_acc", "best_val_loss", "final_val_acc", "final_train_loss", "test_acc", "test_loss",
                   "test_balanced_acc", "params", "macs", "train_seconds", "images_per_second")
BATCH, METRICS_BATCH = 100, 1000  # params or tags, and metric points, per log_batch call (MLflow's limits)
LONGEST_PARAM = 6000  # characters of a param's value MLflow keeps


@dataclass(frozen=True)
class Exported:
    run: Path
    mlflow_id: str
    created: bool
    logged: int  # params, tags, metric points, artifacts and a status written now (0: it was up to date)


def param_name(key: str) -> str:
    """A flattened spec key as MLflow names a param: `model.conv[0].stride` → `model.conv.0.stride`,
    `len(model.conv)` → `model.conv.len`."""
    length = re.fullmatch(r"len\((.+)\)", key)
    key = f"{length.group(1)}.len" if length else key
    return re.sub(r"\[(\d+)\]", r".\1", key)


def export_mlflow(paths: Sequence[Path], tracking_uri: str, experiment: str | None, checkpoints: bool,
                  artifacts: str | None, warn: Callable[[str], None]) -> list[Exported]:
    """Every run under `paths` into the tracking store at `tracking_uri`; what was done for each."""
    require("mlflow", "cnnlab export mlflow")
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic"):  # their table set-up talks on stderr: cnnlab says what it did
        logging.getLogger(name).setLevel(logging.WARNING)

    runs = load_runs(paths, warn)
    try:
        with writing("the MLflow runs' artifacts"):  # a local artifact folder that cannot be written
            store = Store(MlflowClient(tracking_uri=tracking_uri), artifacts)
            return [store.export(run, experiment or str(run.config.get("name", run.path.parent.name)), checkpoints)
                    for run in runs]
    except MlflowException as err:  # a URI it cannot use, a server that refuses or cannot be reached
        raise ExportError(f"--tracking-uri {tracking_uri}: {first_line(err.message)}") from None


def first_line(message: str) -> str:
    """MLflow's messages run over several lines (a server's traceback, the schemes it knows): the first."""
    return next((line.strip() for line in str(message).splitlines() if line.strip()), "failed")


class Store:
    """The tracking store, with the cnnlab runs each of its experiments holds."""

    def __init__(self, client: Any, artifacts: str | None) -> None:
        self.client, self.artifacts = client, artifacts
        self.experiments: dict[str, tuple[str, dict[str, Any]]] = {}  # name → (id, cnnlab run id → MLflow run)

    def experiment(self, name: str) -> tuple[str, dict[str, Any]]:
        if name not in self.experiments:
            found = self.client.get_experiment_by_name(name)
            experiment_id = found.experiment_id if found else self.client.create_experiment(
                name, artifact_location=self.artifacts)
            known = {}
            token = None
            while True:
                page = self.client.search_runs([experiment_id], f"tags.`{RUN_TAG}` != ''", max_results=1000,
                                               page_token=token)
                known.update({r.data.tags[RUN_TAG]: r for r in page})
                token = page.token
                if not token:
                    break
            self.experiments[name] = (experiment_id, known)
        return self.experiments[name]

    def export(self, run: Run, experiment: str, checkpoints: bool) -> Exported:
        """The MLflow run of `run`, made or brought up to date."""
        from cnnlab.export.events import timestamp

        experiment_id, known = self.experiment(experiment)
        found = known.get(run.run_id)
        mlflow_run = found or self.client.create_run(experiment_id, start_time=int(timestamp(run.started) * 1000),
                                                     run_name=run.run_id, tags={RUN_TAG: run.run_id})
        run_id, data = mlflow_run.info.run_id, mlflow_run.data
        logged = (self._params_and_tags(run_id, run, experiment, data) + self._metrics(run_id, run, data)
                  + self._artifacts(run_id, run, checkpoints) + self._status(run_id, run, mlflow_run.info.status))
        return Exported(run.path, run_id, created=found is None, logged=logged)

    def _params_and_tags(self, run_id: str, run: Run, experiment: str, data: Any) -> int:
        from mlflow.entities import Param, RunTag

        params = [Param(param_name(k), format_plain(v)[:LONGEST_PARAM]) for k, v in run.config.items()
                  if param_name(k) not in data.params]
        tags = [RunTag(k, v) for k, v in {"cnnlab.status": run.status, "cnnlab.experiment": experiment}.items()
                if data.tags.get(k) != v]
        for i in range(0, max(len(params), len(tags)), BATCH):
            self.client.log_batch(run_id, params=params[i:i + BATCH], tags=tags[i:i + BATCH])
        return len(params) + len(tags)

    def _metrics(self, run_id: str, run: Run, data: Any) -> int:
        """The points of metrics.csv (and summary.json's figures) at steps the MLflow run lacks."""
        from mlflow.entities import Metric

        from cnnlab.export.events import epoch_times, timestamp

        times = epoch_times(timestamp(run.started), run.rows)
        points = [(column, row.epoch, getattr(row, column)) for row in run.rows for column in METRIC_COLUMNS
                  if column != "epoch" and getattr(row, column) is not None]
        if run.status in FINISHED and run.rows:
            points += [(name, run.rows[-1].epoch, value) for name in SUMMARY_FIGURES
                       if (value := getattr(run.summary, name)) is not None]
        steps = {key: {m.step for m in self.client.get_metric_history(run_id, key)} for key in data.metrics}
        metrics = [Metric(key, float(value), int(times[step] * 1000), step) for key, step, value in points
                   if step not in steps.get(key, ())]
        for i in range(0, len(metrics), METRICS_BATCH):
            self.client.log_batch(run_id, metrics=metrics[i:i + METRICS_BATCH])
        return len(metrics)

    def _artifacts(self, run_id: str, run: Run, checkpoints: bool) -> int:
        """spec.yaml, summary.json (and best.pt) where the MLflow run has none yet. spec.yaml never
        changes; summary.json is written when the run ends, and best.pt is logged only then (a resumed
        run may still improve it), so that each artifact is logged once, as it stays."""
        final = run.status in FINISHED
        files = ["spec.yaml", "summary.json", *(["checkpoints/best.pt"] if checkpoints and final else [])]
        logged = {f.path for folder in (None, "checkpoints") for f in self.client.list_artifacts(run_id, folder)}
        new = [name for name in files if name not in logged and (run.path / name).is_file()]
        for name in new:
            folder = name.rpartition("/")[0]
            self.client.log_artifact(run_id, str(run.path / name), folder or None)
        return len(new)

    def _status(self, run_id: str, run: Run, current: str) -> int:
        from cnnlab.export.events import timestamp

        status = STATUSES.get(run.status)
        if status is None or status == current:
            return 0
        ended = timestamp(run.meta.ended) if run.meta and run.meta.ended else None
        self.client.set_terminated(run_id, status, end_time=int(ended * 1000) if ended else None)
        return 1
