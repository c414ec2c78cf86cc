"""The training loop: one run spec in, one completed run directory out (or, stopped, a last.pt to
resume from exactly: cnnlab.train.checkpoint).

Data stay on the training device as uint8 tensors and are batched from there (cnnlab.data.pipeline),
so the loop costs what a hand-written PyTorch loop costs: forward, loss, backward, step. Metrics are
accumulated on the device and read back only when shown, to keep a GPU from waiting on the host.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

from cnnlab.data.pipeline import Batches, Data, load_data
from cnnlab.errors import Interrupted
from cnnlab.models.builder import build_model
from cnnlab.rundir.records import MetricsRow, Monitor, RunSummary, epoch_figures
from cnnlab.rundir.store import RunStore
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan
from cnnlab.spec import Spec
from cnnlab.train import checkpoint
from cnnlab.train.device import resolve_device, seed_everything, uses_channels_last
from cnnlab.train.diagnostics import Diagnostics
from cnnlab.train.heads import HEADS, Head
from cnnlab.train.optim import OPTIMIZERS, SCHEDULERS


class Reporter(Protocol):
    """Where progress goes (a Rich display in a terminal, the run's log in a parallel worker)."""

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None: ...
    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None: ...
    def epoch_done(self, row: MetricsRow) -> None: ...
    def message(self, text: str) -> None: ...


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


@dataclass
class EpochSoFar:
    """The epoch in progress: how far it got and its running sums (what a mid-epoch resume needs)."""

    step: int = 0  # batches done
    lr: float = 0.0  # the rate at the epoch's start (metrics.csv's `lr`)
    loss_sum: torch.Tensor | None = None  # Σ loss·batch, float64 on the device
    correct: torch.Tensor | None = None  # int64 on the device
    seen: int = 0
    seconds: float = 0.0
    shuffle_state: torch.Tensor | None = None  # the batch-order generator when the epoch began


class Trainer:
    """One run's training: set up from the spec, optionally restored from last.pt, then epochs until
    done, early stopping, divergence or a stop request.

    `stop()` is polled after every step: when it returns a signal number, the trainer writes last.pt
    where it stands (mid-epoch included) and raises Interrupted, so that a resume continues exactly."""

    def __init__(self, spec: Spec, store: RunStore, reporter: Reporter,
                 stop: Callable[[], int | None] = lambda: None) -> None:
        self.spec, self.store, self.reporter, self.stop = spec, store, reporter, stop
        self.train_spec = spec.train
        self.monitor = Monitor(spec.train.monitor, spec.train.min_delta)
        self.rows: list[MetricsRow] = []
        self.best: float | None = None  # the monitored value of the best epoch so far
        self.since_best = 0  # epochs since it improved (early stopping)
        self.train_seconds, self.train_images = 0.0, 0
        self.partial = EpochSoFar()

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.rows)

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
        self.head = HEADS.build(spec.model.head, self.data.info.num_classes)
        self.train_batches = Batches(self.data.train, self.data.normalizer, t.batch_size, channels_last)
        self.val_batches = (Batches(self.data.val, self.data.normalizer, t.batch_size, channels_last)
                            if self.data.val is not None else None)
        self.test_batches = Batches(self.data.test, self.data.normalizer, t.batch_size, channels_last)
        self.optimizer = OPTIMIZERS.build(t.optimizer.name, self.model.parameters(), **t.optimizer.options)
        self.scheduler = SCHEDULERS.build(t.scheduler.name, self.optimizer, self.train_batches.steps_per_epoch,
                                          t.epochs, **t.scheduler.options)
        self.shuffle = torch.Generator().manual_seed(spec.seed + 1)
        augment = self.data.train.augment
        self.augment_generator = augment.generator if augment is not None else None
        self.diagnostics = Diagnostics(self.model, self.plan, self.train_batches, self.head, t.diagnostics, spec.seed,
                                       self.store)

    # ------------------------------------------------------------------ checkpoints

    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch,
                "metrics": self.rows[-1].model_dump() if self.rows else None}

    def save_last(self) -> None:
        """last.pt: the weights as they are now and everything needed to continue from here exactly."""
        p = self.partial
        progress = {
            "rows": [row.model_dump() for row in self.rows], "best": self.best, "since_best": self.since_best,
            "train_seconds": self.train_seconds, "train_images": self.train_images,
            "step": p.step, "epoch_lr": p.lr, "epoch_loss_sum": p.loss_sum, "epoch_correct": p.correct,
            "epoch_seen": p.seen, "epoch_seconds": p.seconds,
            "random": checkpoint.random_states(self.shuffle, self.augment_generator),
        }
        if p.step:  # the batch order of the epoch in progress is drawn again from the state it began with
            progress["random"]["shuffle"] = p.shuffle_state
        checkpoint.save(self.store.file("checkpoints/last.pt"), {**self._state(), "progress": progress})

    def save_best(self) -> None:
        checkpoint.save(self.store.file("checkpoints/best.pt"), self._state())

    def restore(self, state: dict) -> None:
        """Continue from a last.pt written by `save_last` (after `setup`)."""
        path = self.store.file("checkpoints/last.pt")
        progress = state.get("progress")
        if not isinstance(progress, dict):
            raise checkpoint.CheckpointError(f"{path}: written by a cnnlab without exact resume (no progress "
                                             f"record); train the spec again instead")
        checkpoint.load_weights(self.model, state, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.rows = [MetricsRow.model_validate(row) for row in progress["rows"]]
        self.best, self.since_best = progress["best"], progress["since_best"]
        self.train_seconds, self.train_images = progress["train_seconds"], progress["train_images"]
        self.partial = EpochSoFar(
            step=progress["step"], lr=progress["epoch_lr"], seen=progress["epoch_seen"],
            seconds=progress["epoch_seconds"], shuffle_state=progress["random"]["shuffle"],
            loss_sum=_on(progress["epoch_loss_sum"], self.device), correct=_on(progress["epoch_correct"], self.device))
        checkpoint.restore_random_states(progress["random"], self.shuffle, self.augment_generator)
        self.store.write_metrics(self.rows)  # as of the checkpoint (a later epoch's row may have been written)
        self.diagnostics.resume(self.epoch, mid_epoch=self.partial.step > 0)

    # ------------------------------------------------------------------ training

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """(mean loss, accuracy) of one pass (NaN loss if the run diverged), continuing a partial
        epoch where it stopped; adds its time and images to the run's totals."""
        model, head, opt, sched = self.model, self.head, self.optimizer, self.scheduler
        model.train()
        n_batches = self.train_batches.steps_per_epoch
        p = self.partial
        if p.step == 0:
            self.partial = p = EpochSoFar(
                lr=self.optimizer.param_groups[0]["lr"], shuffle_state=self.shuffle.get_state(),
                loss_sum=torch.zeros((), device=self.device, dtype=torch.float64),
                correct=torch.zeros((), device=self.device, dtype=torch.int64))
        else:
            self.shuffle.set_state(p.shuffle_state)  # draws the same order; the batches done are skipped
        self.reporter.epoch_started(epoch, self.train_spec.epochs, n_batches)
        show_every = max(1, n_batches // 20)
        start = time.perf_counter() - p.seconds
        diverged = False
        for i, (x, y) in enumerate(self.train_batches.shuffled(self.shuffle, skip=p.step), p.step + 1):
            logits = model(x)
            loss = head.loss(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            p.loss_sum += loss.detach() * len(y)
            p.correct += head.correct(logits.detach(), y)
            p.seen += len(y)
            p.step = i
            if i % show_every == 0 or i == n_batches:
                mean_loss = p.loss_sum.item() / p.seen
                if not math.isfinite(mean_loss):
                    diverged = True
                    break
                self.reporter.batch_done(i, mean_loss, p.correct.item() / p.seen,
                                         p.seen / (time.perf_counter() - start))
            if i < n_batches and (signum := self.stop()) is not None:
                p.seconds = time.perf_counter() - start
                self.save_last()
                self.reporter.message(f"stopped at epoch {epoch}, step {i} of {n_batches}: in checkpoints/last.pt")
                raise Interrupted(signum)
        self.train_seconds += time.perf_counter() - start  # the whole epoch, its part before a resume included
        self.train_images += p.seen
        self.partial = EpochSoFar()
        return math.nan if diverged else p.loss_sum.item() / p.seen, p.correct.item() / p.seen

    def run(self) -> RunSummary:
        """Train the remaining epochs (or until early stopping / divergence), test the best checkpoint."""
        t = self.train_spec
        stopped_early = diverged = False
        self.diagnostics.record(0)
        while self.epoch < t.epochs:
            if t.patience is not None and self.since_best >= t.patience:  # reached before a stop at the boundary
                stopped_early = True
                self.reporter.message(f"early stopping: {t.monitor} has not improved for {self.since_best} epochs")
                break
            epoch = self.epoch + 1
            lr = self.partial.lr if self.partial.step else self.optimizer.param_groups[0]["lr"]
            seconds_before = self.train_seconds
            train_loss, train_acc = self.train_epoch(epoch)
            seconds = self.train_seconds - seconds_before
            val_loss = val_acc = None
            if math.isfinite(train_loss) and self.val_batches is not None:
                val_loss, val_acc = evaluate(self.model, self.val_batches, self.head)
            if not all(math.isfinite(v) for v in (train_loss, val_loss if val_loss is not None else 0.0)):
                diverged = True
                which = "training" if not math.isfinite(train_loss) else "validation"
                kept = ("the last good weights are in checkpoints/last.pt" if self.rows else
                        "no epoch completed, so there is no checkpoint")
                self.reporter.message(f"epoch {epoch}: the {which} loss became NaN or infinite; stopping ({kept}); "
                                      f"a lower learning rate (it was {lr:.3g}) or a normalization layer may help")
                break
            row = MetricsRow(epoch=epoch, train_loss=train_loss, train_acc=train_acc, val_loss=val_loss,
                             val_acc=val_acc, lr=lr, seconds=seconds)
            self.rows.append(row)
            improved = self.monitor.improves(getattr(row, t.monitor), self.best)
            if improved:
                self.best, self.since_best = getattr(row, t.monitor), 0
            else:
                self.since_best += 1
            self.store.write_metrics(self.rows)
            self.save_last()
            if improved:
                self.save_best()
            self.diagnostics.record(epoch, last=epoch == t.epochs or t.patience is not None
                                    and self.since_best >= t.patience)
            self.reporter.epoch_done(row)
            if self.epoch < t.epochs and (signum := self.stop()) is not None \
                    and not (t.patience is not None and self.since_best >= t.patience):
                self.reporter.message(f"stopped after epoch {epoch}: in checkpoints/last.pt")
                raise Interrupted(signum)
        return self.summarize(stopped_early, diverged)

    def summarize(self, stopped_early: bool, diverged: bool) -> RunSummary:
        test_loss = test_acc = None
        if self.rows:  # test once, on the best checkpoint
            path = self.store.file("checkpoints/best.pt")
            checkpoint.load_weights(self.model, checkpoint.load(path, self.device), path)
            test_loss, test_acc = evaluate(self.model, self.test_batches, self.head)
        info = self.data.info
        # The time of a diverged epoch counts too, though it has no metrics row.
        figures = {**epoch_figures(self.rows, self.monitor), "train_seconds": round(self.train_seconds, 3)}
        return RunSummary(
            **figures,
            test_acc=test_acc,
            test_loss=test_loss,
            chance_acc=self.data.test.labels.bincount().max().item() / len(self.data.test),
            params=self.analysis.params,
            macs=self.analysis.macs,
            receptive_field=self.analysis.receptive_field,
            images_per_second=round(self.train_images / self.train_seconds, 1) if self.train_seconds else None,
            stopped_early=stopped_early,
            diverged=diverged,
            input_shape=list(info.shape),
            classes=list(info.class_names),
            split_sizes={"train": len(self.data.train), "val": len(self.data.val) if self.data.val else 0,
                         "test": len(self.data.test)},
            normalization={"mean": list(self.data.normalizer.mean), "std": list(self.data.normalizer.std)},
            device=str(self.device),
            files=sorted({*self.store.files(), "summary.json"}),
        )


def _on(value: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return value.to(device) if value is not None else None
