"""The training loop: one run spec in, one completed run directory out.

Data stay on the training device as uint8 tensors and are batched from there (cnnlab.data.pipeline),
so the loop costs what a hand-written PyTorch loop costs: forward, loss, backward, step. Metrics are
accumulated on the device and read back only when shown, to keep a GPU from waiting on the host.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from cnnlab.data.pipeline import Batches, Data, load_data
from cnnlab.models.builder import build_model
from cnnlab.rundir.records import MetricsRow, Monitor, RunSummary, epoch_figures
from cnnlab.rundir.store import RunStore
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan
from cnnlab.spec import Spec
from cnnlab.train.device import resolve_device, seed_everything, uses_channels_last
from cnnlab.train.optim import OPTIMIZERS, SCHEDULERS
from cnnlab.util.files import atomic_path


class Reporter(Protocol):
    """Where progress goes (a Rich display in a terminal, the run's log in a parallel worker)."""

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None: ...
    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None: ...
    def epoch_done(self, row: MetricsRow) -> None: ...
    def message(self, text: str) -> None: ...


@dataclass
class Head:
    """The two output layers of the lecture: softmax over C logits, or one sigmoid logit."""

    binary: bool

    def loss(self, logits: torch.Tensor, labels: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
        if self.binary:
            return F.binary_cross_entropy_with_logits(logits.squeeze(1), labels.float(), reduction=reduction)
        return F.cross_entropy(logits, labels, reduction=reduction)

    def predict(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits.squeeze(1) > 0).long() if self.binary else logits.argmax(1)

    def correct(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return (self.predict(logits) == labels).sum()


def evaluate(model, batches: Batches, head: Head) -> tuple[float, float]:
    """(mean loss, accuracy) over a whole split, in evaluation mode."""
    model.eval()
    loss = torch.zeros((), device=batches.split.labels.device, dtype=torch.float64)
    correct = torch.zeros((), device=loss.device, dtype=torch.int64)
    with torch.inference_mode():
        for x, y in batches.in_order():
            logits = model(x)
            loss += head.loss(logits, y, reduction="sum")
            correct += head.correct(logits, y)
    n = len(batches.split)
    return loss.item() / n, correct.item() / n


class Trainer:
    def __init__(self, spec: Spec, store: RunStore, reporter: Reporter) -> None:
        self.spec, self.store, self.reporter = spec, store, reporter
        self.train_spec = spec.train

    def setup(self, threads: int | None = None, device: str | None = None) -> None:
        """Load data, build the model and optimizer. `threads`/`device` override the spec's."""
        spec, t = self.spec, self.spec.train
        self.device = resolve_device(device or t.device)
        if threads or t.threads:
            torch.set_num_threads(threads or t.threads)
        self.threads = torch.get_num_threads()
        seed_everything(spec.seed)
        self.data: Data = load_data(spec.data, spec.seed, self.device)
        self.plan = build_plan(spec.model, self.data.info)
        self.analysis = analyze(self.plan, self.data.info.shape)
        torch.manual_seed(spec.seed)  # the same initial weights whatever the data loading drew
        self.model = build_model(self.plan, spec.model.init, spec.model.bias_init).to(self.device)
        channels_last = uses_channels_last(t.channels_last, self.plan)
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.head = Head(binary=spec.model.head == "sigmoid")
        self.train_batches = Batches(self.data.train, self.data.normalizer, t.batch_size, channels_last)
        self.val_batches = (Batches(self.data.val, self.data.normalizer, t.batch_size, channels_last)
                            if self.data.val is not None else None)
        self.test_batches = Batches(self.data.test, self.data.normalizer, t.batch_size, channels_last)
        self.optimizer = OPTIMIZERS.build(t.optimizer.name, self.model.parameters(), **t.optimizer.options)
        self.scheduler = SCHEDULERS.build(t.scheduler.name, self.optimizer, self.train_batches.steps_per_epoch,
                                          t.epochs, **t.scheduler.options)
        self.shuffle = torch.Generator().manual_seed(spec.seed + 1)

    def train_epoch(self, epoch: int) -> tuple[float, float, float, int]:
        """(mean loss, accuracy, seconds, images) of one pass; NaN loss if the run diverged."""
        model, head, opt, sched = self.model, self.head, self.optimizer, self.scheduler
        model.train()
        n_batches = self.train_batches.steps_per_epoch
        self.reporter.epoch_started(epoch, self.train_spec.epochs, n_batches)
        loss_sum = torch.zeros((), device=self.device, dtype=torch.float64)
        correct = torch.zeros((), device=self.device, dtype=torch.int64)
        seen = 0
        show_every = max(1, n_batches // 20)
        start = time.perf_counter()
        for i, (x, y) in enumerate(self.train_batches.shuffled(self.shuffle), 1):
            logits = model(x)
            loss = head.loss(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.detach() * len(y)
            correct += head.correct(logits.detach(), y)
            seen += len(y)
            if i % show_every == 0 or i == n_batches:
                mean_loss = loss_sum.item() / seen
                if not math.isfinite(mean_loss):
                    return math.nan, correct.item() / seen, time.perf_counter() - start, seen
                self.reporter.batch_done(i, mean_loss, correct.item() / seen,
                                         seen / (time.perf_counter() - start))
        return loss_sum.item() / seen, correct.item() / seen, time.perf_counter() - start, seen

    def save_checkpoint(self, name: str, epoch: int, row: MetricsRow) -> None:
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": epoch,
            "metrics": row.model_dump(),
        }
        with atomic_path(self.store.file(f"checkpoints/{name}")) as tmp:
            torch.save(state, tmp)

    def run(self) -> RunSummary:
        """Train all epochs (or until early stopping / divergence), test the best checkpoint."""
        t = self.train_spec
        monitor = Monitor(t.monitor, t.min_delta)
        rows: list[MetricsRow] = []
        best, stale = None, 0
        train_seconds, train_images = 0.0, 0
        stopped_early = diverged = False
        for epoch in range(1, t.epochs + 1):
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss, train_acc, seconds, images = self.train_epoch(epoch)
            train_seconds += seconds
            train_images += images
            if not math.isfinite(train_loss):
                diverged = True
                kept = ("the last good weights are in checkpoints/last.pt" if rows else
                        "no epoch completed, so there is no checkpoint")
                self.reporter.message(f"epoch {epoch}: the loss became NaN or infinite; stopping ({kept}); "
                                      f"a lower learning rate or a normalization layer may help")
                break
            val_loss = val_acc = None
            if self.val_batches is not None:
                val_loss, val_acc = evaluate(self.model, self.val_batches, self.head)
            row = MetricsRow(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                             val_acc=val_acc, lr=lr, seconds=seconds)
            rows.append(row)
            self.store.write_metrics(rows)
            self.save_checkpoint("last.pt", epoch, row)
            monitored = getattr(row, t.monitor)
            if monitor.improves(monitored, best):
                best, stale = monitored, 0
                self.save_checkpoint("best.pt", epoch, row)
            else:
                stale += 1
            self.reporter.epoch_done(row)
            if t.patience is not None and stale >= t.patience:
                stopped_early = True
                self.reporter.message(f"early stopping: {t.monitor} has not improved for {stale} epochs")
                break
        return self.summarize(rows, monitor, train_seconds, train_images, stopped_early, diverged)

    def summarize(self, rows: list[MetricsRow], monitor: Monitor, train_seconds: float, train_images: int,
                  stopped_early: bool, diverged: bool) -> RunSummary:
        test_loss = test_acc = None
        if rows:  # test once, on the best checkpoint
            state = torch.load(self.store.file("checkpoints/best.pt"), map_location=self.device,
                               weights_only=True)
            self.model.load_state_dict(state["model"])
            test_loss, test_acc = evaluate(self.model, self.test_batches, self.head)
        info = self.data.info
        # The time of a diverged epoch counts too, though it has no metrics row.
        figures = {**epoch_figures(rows, monitor), "train_seconds": round(train_seconds, 3)}
        return RunSummary(
            **figures,
            test_acc=test_acc,
            test_loss=test_loss,
            params=self.analysis.params,
            macs=self.analysis.macs,
            images_per_second=round(train_images / train_seconds, 1) if train_seconds else None,
            stopped_early=stopped_early,
            diverged=diverged,
            input_shape=list(info.shape),
            classes=list(info.class_names),
            split_sizes={"train": len(self.data.train), "val": len(self.data.val) if self.data.val else 0,
                         "test": len(self.data.test)},
            normalization={"mean": list(self.data.normalizer.mean), "std": list(self.data.normalizer.std)},
            device=str(self.device),
        )
