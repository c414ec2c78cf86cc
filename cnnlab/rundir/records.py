"""What cnnlab writes into a run directory, as typed records: one definition for every writer and
every reader (the trainer, `compare`, `eval`, the sweep's skip check). JSON reading and writing are
here; the CSV files' in cnnlab.rundir.csv_files.

The files of their own (meta.json, summary.json, sweep.yaml) carry a schema_version: a reader refuses
a file of a newer schema than it knows, and ignores the unknown keys of its own schema (a field added
since). A malformed file is one RecordError line naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from cnnlab.errors import CnnlabError
from cnnlab.util.reading import RECORD_BYTES, NotReadable, read_bounded

Status = Literal["running", "completed", "failed", "interrupted", "diverged"]  # what meta.json holds
# What a reader shows: `stale` is a `running` run whose process is gone (cnnlab.rundir.liveness).
Observed = Literal["running", "completed", "failed", "interrupted", "diverged", "stale"]
FINISHED: frozenset[str] = frozenset({"completed", "diverged"})  # statuses whose numbers are final
RESUMABLE: frozenset[str] = frozenset({"interrupted", "failed", "stale"})  # `cnnlab train --resume` continues these
# spec.yaml's keys that change only what else a run directory holds (tensorboard/): not what the run is
OUTPUT_ONLY = ("train.tensorboard",)


# Counts, epochs, sizes: at most 2**53, the integers a float (a plot, a mean, JSON elsewhere) holds
# exactly; a file that claims more is malformed, not a number to overflow on later.
Count = Annotated[int, Field(ge=0, le=2**53)]

SCHEMA_VERSION = 1
"""The layout of meta.json, summary.json and sweep.yaml. Raise it when a change would make an older
cnnlab misread them (a field that changes meaning or becomes required), so that it refuses them."""


class RecordError(CnnlabError):
    """A run file that cannot be read as its record; the message names the file and the problem."""

    def __init__(self, path: str | Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = path, reason


class MissingRecord(RecordError):
    """A run file that does not exist (yet)."""


class NewerRecord(RecordError):
    """A run file of a newer schema than this cnnlab reads: what it holds may mean something else."""

    def __init__(self, path: str | Path, version: int) -> None:
        super().__init__(path, f"written by a newer cnnlab (schema {version}; this one reads {SCHEMA_VERSION}): "
                               f"upgrade cnnlab")


class _NewerSchema(Exception):  # not a ValueError, so that pydantic lets it through unwrapped
    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


class Record(BaseModel):
    """Base of the records: unknown keys (fields added since, within the same schema) are ignored."""

    # Validators are built on first use, not at import: `cnnlab shape` imports the records (for the metric
    # names a spec's claims may use) but reads none, and building them all cost it ~60 ms.
    model_config = ConfigDict(extra="ignore", defer_build=True)


class FileRecord(Record):
    """A record that is a file of its own; its schema_version comes first in the file."""

    schema_version: Annotated[int, Field(ge=1)] = SCHEMA_VERSION

    @field_validator("schema_version")
    @classmethod
    def _known(cls, version: int) -> int:
        if version > SCHEMA_VERSION:
            raise _NewerSchema(version)
        return version


class Resumption(Record):
    """One `cnnlab train --resume` of a run: when, from what state, where it continued from."""

    at: str  # ISO 8601 with the local offset
    status: str  # how the run stood when it was resumed (interrupted, failed, stale)
    epoch: Count | None = None  # epochs completed in the checkpoint it continued from (0: from the start)
    step: Count | None = None  # batches of the next epoch already done (a checkpoint taken mid-epoch)
    host: str | None = None
    pid: Count | None = None
    command: str | None = None
    changed: dict[str, Any] = {}  # keys that do not change the result, set differently (train.threads ...)


class Compute(Record):
    """How a run computed (what train.precision: auto and the others resolved to on its device); a
    resumed run continues with the same precision."""

    precision: str  # fp32 | bf16 | fp16
    channels_last: bool = False  # NHWC memory format
    compiled: bool = False  # torch.compile
    deterministic: bool = False  # deterministic kernels, no cuDNN autotuning
    cudnn_benchmark: bool = False  # cuDNN autotuning (on a GPU, unless deterministic)
    world_size: Count = 1  # processes training it together (torchrun)
    backend: str | None = None  # their process group's backend: nccl or gloo
    sync_bn: bool = False  # batch norm statistics over the global batch


class RunMeta(FileRecord):
    """meta.json: what the run is and how it stands; rewritten whenever its status changes, and by the
    heartbeat while it runs (so that a reader can tell a live run from one whose process vanished)."""

    status: Status  # running | completed | failed | interrupted | diverged
    run_id: str  # the directory's name
    name: str  # the experiment's name: runs/<name>/<run_id>
    started: str  # ISO 8601 with the local offset
    ended: str | None = None
    duration_s: float | None = None  # wall time from start to end
    seed: Count
    swept: dict[str, Any]  # the sweep values that made this run (dotted key → value)
    device: str | None = None  # the torch device it trained on (rank 0's, under torchrun)
    threads: Count | None = None  # CPU threads torch used
    compute: Compute | None = None  # how it computed: precision, memory format, kernels, processes
    versions: dict[str, str]  # cnnlab, python, torch, torchvision, numpy
    host: str  # the machine of the process that runs (or ran) it
    machine: str | None = None  # processor and core count (and GPU), for reports: known once training starts
    pid: Count  # that process
    heartbeat: str  # last sign of life of that process (ISO 8601), every HEARTBEAT_S while running
    git_commit: str | None = None  # of the working directory's repository, if any
    command: str  # the `cnnlab train` invocation that made it
    error: str | None = None  # why it failed or was interrupted
    failed_rank: Count | None = None  # under torchrun: the process whose failure failed the run
    resumptions: list[Resumption] = []  # every `--resume` that continued it, in order


class RunSummary(FileRecord):
    """summary.json: the run's results, written once when training ends (completed or diverged).

    `best_epoch` is the epoch the monitor (train.monitor, train.min_delta) picked, and `best_val_acc`
    / `best_val_loss` are the validation figures *of that epoch* (not the maximum over epochs);
    test figures are those of best.pt, i.e. of that epoch's weights.
    """

    best_epoch: Count | None = None
    best_val_acc: float | None = None
    best_val_loss: float | None = None
    final_val_acc: float | None = None
    final_train_loss: float | None = None
    final_train_acc: float | None = None
    epochs_run: Count | None = None
    test_acc: float | None = None
    test_loss: float | None = None
    test_balanced_acc: float | None = None  # mean per-class recall on the test split (1/classes for a constant answer)
    chance_acc: float | None = None  # test accuracy of always answering the most common test class
    params: Count | None = None
    macs: Count | None = None
    receptive_field: Count | None = None  # input pixels one unit of the last feature map sees (larger axis)
    train_seconds: float | None = None
    images_per_second: float | None = None  # training images per second, a compiling first step excluded
    compile_seconds: float | None = None  # train.compile: the first step's compilation (the warm-up)
    peak_gpu_memory: Count | None = None  # bytes: the most the run's tensors held on its GPU at once
    stopped_early: bool = False
    diverged: bool = False
    input_shape: list[Count] = []
    classes: list[str] = []
    split_sizes: dict[str, Count] = {}
    normalization: dict[str, list[float]] = {}  # mean and std per channel actually used
    device: str | None = None
    files: list[str] = []  # what the run directory holds (paths relative to it)


def _blank_is_none(value: Any) -> Any:
    return None if value == "" else value


OptionalFloat = Annotated[float | None, BeforeValidator(_blank_is_none)]


class MetricsRow(Record):
    """One epoch of metrics.csv (blank cells are None: no validation split)."""

    epoch: Count
    train_loss: float
    train_acc: float
    val_loss: OptionalFloat = None
    val_acc: OptionalFloat = None
    lr: OptionalFloat = None
    seconds: OptionalFloat = None


DIAGNOSTIC_STATISTICS: dict[str, str] = {
    "act_mean": "mean of the layer's activation (its output after the activation function) over the probe batch",
    "act_std": "standard deviation of that activation",
    "dead_fraction": "ReLU family: share of units (channels, features) never above 0 for any probe image",
    "saturated_fraction": "sigmoid, tanh, scaled_tanh: share of outputs where the slope is below 10% of its maximum",
    "units": "units of the layer: output channels or features",
    "distinct_units": "units whose outputs differ (beyond a relative 1e-4) from every other unit's: 1 after zero init",
    "weight_norm": "L2 norm of the layer's weight",
    "grad_norm": "L2 norm of the probe loss's gradient with respect to the weight",
    "grad_rms": "that gradient per weight: grad_norm / sqrt(number of weights), which compares layers fairly",
    "update_ratio": "norm of the weight's change since the previous record over the weight's norm then",
}
"""diagnostics.csv's statistics (the values of its `statistic` column) and what each measures."""


class DiagnosticsRow(Record):
    """One row of diagnostics.csv: one statistic of one weighted layer at one epoch (0: at init).

    A statistic that does not apply (dead_fraction of a tanh layer, update_ratio at init) has no row."""

    epoch: int
    layer: str  # the plan's name: conv1, fc1, head ...
    depth: int  # 1 for the first weighted layer, counting every conv, linear and subsampling layer
    activation: str  # the activation applied to the layer's output; identity for the head
    statistic: str  # a key of DIAGNOSTIC_STATISTICS
    value: float


PERCENTILES = (2, 15, 50, 85, 98)
"""distributions.csv's percentiles (statistics p2 ... p98): Ioffe & Szegedy (2015, Fig. 1) drew the
15th, 50th and 85th of a sigmoid's input through training; the 2nd and 98th show the tails."""

HISTOGRAM_BINS = 50
"""Bins of distributions.csv's histograms (statistics bin0 ... bin49), equal in width between the
statistics low and high recorded with them."""

DISTRIBUTION_QUANTITIES: dict[str, str] = {
    "pre_activation": "the input of the layer's nonlinearity (after its weights and normalization): percentiles",
    "activation": "the output of the nonlinearity (the head's: its logits): percentiles and histograms",
    "gradient": "∂L/∂activation, the probe loss's gradient back-propagated to that output: histograms",
}
"""distributions.csv's quantities (its `quantity` column) and what each is."""


def percentile_statistic(percentile: int) -> str:
    return f"p{percentile}"


def bin_statistic(index: int) -> str:
    return f"bin{index}"


HISTOGRAM_STATISTICS = ("low", "high", *(bin_statistic(i) for i in range(HISTOGRAM_BINS)))
"""The statistics of a histogram in distributions.csv: its range, then its bins' masses."""


def histogram_rows(rows: Iterable[DistributionRow]) -> list[DistributionRow]:
    """The histograms among distributions.csv's rows (not its percentiles)."""
    return [row for row in rows if row.statistic in HISTOGRAM_STATISTICS]


class DistributionRow(Record):
    """One row of distributions.csv: one statistic of one quantity of one weighted layer at one step.

    Every train.diagnostics.steps optimizer steps (and at init, step 0): the PERCENTILES of the
    pre-activation and the activation. At init and at every epoch diagnostics.csv records: the
    normalized histogram (masses that sum to 1, HISTOGRAM_BINS of them) of the activation and of the
    gradient, with the range it spans (statistics low and high)."""

    step: Count  # optimizer steps done
    epoch: Count  # at a percentile record, the epoch in progress; at a histogram, the epoch just done (0: init)
    layer: str  # the plan's name: conv1, fc1, head ...
    depth: int  # as in diagnostics.csv
    quantity: str  # a key of DISTRIBUTION_QUANTITIES
    statistic: str  # p2 ... p98; low, high, bin0 ... bin49
    value: float


class Looks(Record):
    """How `cnnlab train --until-decided` looked at an experiment's claims (cnnlab.compare.multiplicity):
    the seeds per group planned for each look, the level each look tests at, and the seeds each look
    it made added; a report decides the claims look by look, as the loop did."""

    procedure: str  # cnnlab.compare.multiplicity.SEQUENTIAL
    planned: list[Count]  # seeds per group at each planned look, the last the most any group gets
    levels: list[float]  # α_k of each planned look
    seeds: list[list[Count]] = []  # the seeds each look made added (the first: the spec's)


class SweepRecord(FileRecord):
    """runs/<name>/sweep.yaml: the experiment as written (with --set applied), so that a sweep reads
    as a unit later."""

    name: str
    sweep: dict[str, list[Any]] = {}
    seeds: list[Count] | None = None
    description: str = ""  # what the experiment shows
    claims: list[str] = []  # what its runs should show (cnnlab.spec.claims)
    command: str | None = None  # the `cnnlab train` invocation that ran it last
    spec: dict[str, Any] = {}  # the resolved spec of the experiment before the sweep is applied
    looks: Looks | None = None  # None: the claims are tested once, at the runs there are


@dataclass(frozen=True)
class Monitor:
    """Which epoch is best: train.monitor higher (val_acc) or lower (val_loss) than the best so far by
    more than train.min_delta. Without a validation split every epoch counts as an improvement, so
    best is last. The trainer asks it epoch by epoch; readers of runs without a summary yet too."""

    metric: Literal["val_acc", "val_loss"] = "val_acc"
    min_delta: float = 0.0

    def improves(self, value: float | None, best: float | None) -> bool:
        if value is None or best is None:
            return True
        return value > best + self.min_delta if self.metric == "val_acc" else value < best - self.min_delta

    def best_epoch(self, rows: Sequence[MetricsRow]) -> int | None:
        best, epoch = None, None
        for row in rows:
            value = getattr(row, self.metric)
            if self.improves(value, best):
                best, epoch = value, row.epoch
        return epoch


def epoch_figures(rows: Sequence[MetricsRow], monitor: Monitor) -> dict[str, Any]:
    """The fields of RunSummary that follow from metrics.csv alone: what the trainer writes, and what a
    reader derives for a run that has no summary.json yet (running, or interrupted)."""
    by_epoch = {row.epoch: row for row in rows}
    best = by_epoch.get(monitor.best_epoch(rows))
    last = rows[-1] if rows else None
    seconds = [row.seconds for row in rows if row.seconds is not None]
    return {
        "best_epoch": best.epoch if best else None,
        "best_val_acc": best.val_acc if best else None,
        "best_val_loss": best.val_loss if best else None,
        "final_val_acc": last.val_acc if last else None,
        "final_train_loss": last.train_loss if last else None,
        "final_train_acc": last.train_acc if last else None,
        "epochs_run": len(rows),
        "train_seconds": sum(seconds) if seconds else None,
    }


# ------------------------------------------------------------------------- JSON files

R = TypeVar("R", bound=Record)


def validation_problem(err: ValidationError) -> str:
    """The first thing pydantic found wrong, as `where: what`."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}" if where else first["msg"]


def read_text(path: str | Path, limit: int = RECORD_BYTES) -> str:
    """A run file's text (a regular file of at most `limit` bytes: cnnlab.util.reading); MissingRecord
    when absent, RecordError when unreadable."""
    try:
        return read_bounded(path, limit, "run record").decode("utf-8")
    except FileNotFoundError:
        raise MissingRecord(path, "missing") from None
    except NotReadable as err:
        raise RecordError(path, err.reason) from None
    except (OSError, UnicodeDecodeError) as err:
        raise RecordError(path, f"unreadable ({err.__class__.__name__})") from None


def parse_json_record(text: str, cls: type[R], path: str | Path) -> R:
    """meta.json's or summary.json's text as its record; RecordError (NewerRecord for a newer schema)."""
    try:
        return cls.model_validate_json(text)
    except ValidationError as err:
        kind = "not valid JSON" if err.errors()[0]["type"] == "json_invalid" else "malformed"
        raise RecordError(path, f"{kind} ({validation_problem(err)})") from None
    except _NewerSchema as err:
        raise NewerRecord(path, err.version) from None


def validate_record(data: Any, cls: type[R], path: str | Path) -> R:
    """Parsed data (sweep.yaml's) as its record; RecordError (NewerRecord for a newer schema)."""
    try:
        return cls.model_validate(data)
    except ValidationError as err:
        raise RecordError(path, f"malformed ({validation_problem(err)})") from None
    except _NewerSchema as err:
        raise NewerRecord(path, err.version) from None


def read_json_record(path: str | Path, cls: type[R]) -> R:
    """meta.json or summary.json as its record; RecordError (one line naming the file) if it is not one."""
    return parse_json_record(read_text(path), cls, path)


def json_text(record: Record) -> str:
    """A record as the JSON cnnlab writes (indented, fields in definition order)."""
    return json.dumps(record.model_dump(mode="json"), indent=2) + "\n"
