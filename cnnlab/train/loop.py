"""The training loop: one run spec in, one completed run directory out (or, stopped, a last.pt to
resume from exactly: cnnlab.train.checkpoint).

Data stay on the training device as uint8 tensors and are batched from there (cnnlab.data.pipeline),
so the loop costs what a hand-written PyTorch loop costs: forward, loss, backward, step (how each is
computed, on how many processes, in which precision: cnnlab.train.engine). Nothing inside an epoch
waits for the device: losses and correct counts accumulate there and are read at the epoch's end, or
every few steps when the reporter shows them live (`Reporter.refresh_steps`); checkpoints and metrics
rows are written at epoch ends (and where a stop request lands).

Under torchrun every process runs this loop on its part of each batch (cnnlab.train.distributed):
the figures are summed over the processes before they are read, every decision (a stop, divergence,
early stopping) follows from figures all processes share, and only rank 0 writes.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import torch

from cnnlab.data.pipeline import Batches, Data, load_data
from cnnlab.errors import Interrupted
from cnnlab.models.builder import build_model
from cnnlab.rundir.records import Compute, MetricsRow, Monitor, RunSummary, epoch_figures
from cnnlab.rundir.store import RunStore
from cnnlab.shape.analysis import analyze
from cnnlab.shape.plan import build_plan
from cnnlab.spec import Spec
from cnnlab.train import checkpoint
from cnnlab.train.device import configure_kernels, seed_everything, uses_channels_last
from cnnlab.train.diagnostics import Diagnostics
from cnnlab.train.distributed import SINGLE, World
from cnnlab.train.engine import Engine
from cnnlab.train.epoch_state import EpochSoFar
from cnnlab.train.evaluation import evaluate
from cnnlab.train.heads import HEADS
from cnnlab.train.optim import OPTIMIZERS, SCHEDULERS
from cnnlab.train.precision import resolve_precision
from cnnlab.train.tensorboard import stream

STOP_EVERY = 8  # steps between two agreements on a stop request when several processes train
RANK_SEED_STRIDE = 1_000_003  # rank r > 0 draws dropout from seed + r·stride


class Reporter(Protocol):
    """Where progress goes (a Rich display in a terminal, the run's log in a parallel worker)."""

    def refresh_steps(self, batches: int) -> int:
        """Steps between two `batch_done` calls in an epoch of `batches` steps; 0: none (the epoch's
        line only). Each call reads the running figures back from the device, which makes it wait."""
        ...

    def epoch_started(self, epoch: int, epochs: int, batches: int) -> None: ...
    def batch_done(self, done: int, loss: float, acc: float, images_per_s: float) -> None: ...
    def epoch_done(self, row: MetricsRow) -> None: ...
    def message(self, text: str) -> None: ...


class Trainer:
    """One run's training: set up from the spec, optionally restored from last.pt, then epochs until
    done, early stopping, divergence or a stop request.

    `stop()` is polled after every step (every STOP_EVERY steps when several processes train, which
    agree on it): when it returns a signal number, the trainer writes last.pt where it stands
    (mid-epoch included) and raises Interrupted, so that a resume continues exactly."""

    def __init__(self, spec: Spec, store: RunStore | None, reporter: Reporter,
                 stop: Callable[[], int | None] = lambda: None, world: World = SINGLE,
                 precision: str | None = None) -> None:
        """`store` is None on the ranks other than 0 under torchrun (they write nothing); `precision`
        replaces train.precision (a resumed run continues in the one it recorded)."""
        self.spec, self.store, self.reporter, self.world = spec, store, reporter, world
        self.stop = lambda: world.agree_stop(stop())
        self.stop_every = 1 if world.size == 1 else STOP_EVERY  # agreeing costs a message between processes
        self.precision_name = precision or spec.train.precision
        self.train_spec = spec.train
        self.monitor = Monitor(spec.train.monitor, spec.train.min_delta)
        self.rows: list[MetricsRow] = []
        self.best: float | None = None  # the monitored value of the best epoch so far
        self.since_best = 0  # epochs since it improved (early stopping)
        self.train_seconds, self.train_images = 0.0, 0  # warm-up excluded: the images/s figure
        self.partial = EpochSoFar()

    @property
    def epoch(self) -> int:
        """Epochs completed."""
        return len(self.rows)

    @property
    def steps_done(self) -> int:
        """Optimizer steps of the run so far (the epoch in progress included)."""
        return self.epoch * self.train_batches.steps_per_epoch + self.partial.step

    @property
    def out_of_patience(self) -> bool:
        """Early stopping: train.patience epochs have passed without an improvement."""
        patience = self.train_spec.patience
        return patience is not None and self.since_best >= patience

    @property
    def compute(self) -> Compute:
        """How the run computes (after `setup`), for meta.json."""
        t, engine = self.train_spec, self.engine
        return Compute(precision=self.precision.name, channels_last=engine.channels_last, compiled=engine.compiled,
                       deterministic=t.deterministic,
                       cudnn_benchmark=self.device.type == "cuda" and not t.deterministic,
                       world_size=self.world.size, backend=self.world.backend(self.device), sync_bn=engine.sync_bn)

    def setup(self, threads: int | None = None, device: str | None = None) -> None:
        """Load data, build the model and optimizer. `threads`/`device` override the spec's."""
        spec, t, world = self.spec, self.spec.train, self.world
        self.device = world.device(device or t.device)
        if threads or t.threads:
            torch.set_num_threads(threads or t.threads)
        self.threads = torch.get_num_threads()
        configure_kernels(t.deterministic)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)  # summary.json's peak is this run's
        self.precision = resolve_precision(self.precision_name, self.device)
        seed_everything(spec.seed)
        with world.main_first():  # one download, one cache file per machine
            self.data: Data = load_data(spec.data, spec.seed, self.device)
        self.plan = build_plan(spec.model, self.data.info)
        self.analysis = analyze(self.plan, self.data.info.shape)
        torch.manual_seed(spec.seed)  # the same initial weights whatever the data loading drew
        model = build_model(self.plan, spec.model.init, spec.model.bias_init)
        if world.rank:  # its own dropout masks (rank 0 keeps the stream one process would draw)
            torch.manual_seed(spec.seed + RANK_SEED_STRIDE * world.rank)
        channels_last = uses_channels_last(t.channels_last, self.plan)
        self.engine = Engine(model, self.device, self.precision, world, channels_last=channels_last,
                             compile=t.compile, sync_bn=t.sync_bn, batch_size=t.batch_size)
        self.model = self.engine.model
        self.head = HEADS.build(spec.model.head, self.data.info.num_classes)

        def batches(split):
            return Batches(split, self.data.normalizer, t.batch_size, channels_last, world.shard)

        self.train_batches = batches(self.data.train)
        self.val_batches = batches(self.data.val) if self.data.val is not None else None
        self.test_batches = batches(self.data.test)
        self.optimizer = OPTIMIZERS.build(t.optimizer.name, self.model.parameters(), self.device.type == "cuda",
                                          **t.optimizer.options)
        self.scheduler = SCHEDULERS.build(t.scheduler.name, self.optimizer, self.train_batches.steps_per_epoch,
                                          t.epochs, **t.scheduler.options)
        self.shuffle = torch.Generator().manual_seed(spec.seed + 1)
        augment = self.data.train.augment
        self.augment_generator = augment.generator if augment is not None else None
        self.diagnostics = Diagnostics(self.model, self.plan, self.train_batches, self.head, t.diagnostics, spec.seed,
                                       self.store, t.epochs)
        self.events = stream(t.tensorboard, self.store)  # train.tensorboard: the epochs as TensorBoard events
        # Rank 0's display sets when every rank reads the figures (reading them is a collective).
        self.refresh = world.broadcast(self.reporter.refresh_steps(self.train_batches.steps_per_epoch))

    # ------------------------------------------------------------------ checkpoints

    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "epoch": self.epoch,
                "metrics": self.rows[-1].model_dump() if self.rows else None, **self.engine.state()}

    def _checkpoint(self, name: str) -> Path:
        return self.store.file(f"checkpoints/{name}") if self.store is not None else Path("checkpoints", name)

    def save_last(self) -> None:
        """last.pt: the weights as they are now and everything needed to continue from here exactly.
        Every process calls it (the running sums and the random states are collected from all); rank 0
        writes it."""
        p, world = self.partial, self.world
        epoch_progress = p.progress(world)
        states = world.gather(checkpoint.random_states(self.shuffle, self.augment_generator))
        if not world.is_main:
            return
        progress = {
            "rows": [row.model_dump() for row in self.rows], "best": self.best, "since_best": self.since_best,
            "train_seconds": self.train_seconds, "train_images": self.train_images, **epoch_progress,
            "random": states[0], "world_size": world.size,
        }
        if world.size > 1:  # each process's own torch, Python and numpy states (dropout draws differ)
            progress["random_ranks"] = states
        if p.step:  # the batch order of the epoch in progress is drawn again from the state it began with
            progress["random"]["shuffle"] = p.shuffle_state
        checkpoint.save(self._checkpoint("last.pt"), {**self._state(), "progress": progress})

    def save_best(self) -> None:
        if self.world.is_main:
            checkpoint.save(self._checkpoint("best.pt"), self._state())

    def restore(self, state: dict) -> None:
        """Continue from a last.pt written by `save_last` (after `setup`; every process, with the same
        `state`)."""
        path, progress = self._checkpoint("last.pt"), state["progress"]
        checkpoint.load_weights(self.model, state, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.engine.load_state(state)
        self.rows = [MetricsRow.model_validate(row) for row in progress["rows"]]
        self.best, self.since_best = progress["best"], progress["since_best"]
        self.train_seconds, self.train_images = progress["train_seconds"], progress["train_images"]
        self.partial = EpochSoFar.from_progress(progress, self.device, carries_sums=self.world.is_main)
        ranks = progress.get("random_ranks") or [progress["random"]]
        random = {**ranks[self.world.rank % len(ranks)], "shuffle": progress["random"]["shuffle"]}
        checkpoint.restore_random_states(random, self.shuffle, self.augment_generator)
        if self.world.is_main:
            self.store.write_metrics(self.rows)  # as of the checkpoint (a later epoch's row may have been written)
        self.diagnostics.resume(self.epoch, mid_epoch=self.partial.step > 0, step=self.steps_done)

    # ------------------------------------------------------------------ training

    def train_epoch(self, epoch: int) -> tuple[float, float]:
        """(mean loss, accuracy) of one pass (NaN loss if the run diverged), continuing a partial
        epoch where it stopped; adds its time and images to the run's totals."""
        head, engine, world, batches = self.head, self.engine, self.world, self.train_batches
        self.model.train()
        n_batches = batches.steps_per_epoch
        p = self.partial
        if p.step == 0:
            self.partial = p = EpochSoFar(
                lr=self.optimizer.param_groups[0]["lr"], shuffle_state=self.shuffle.get_state(),
                loss_sum=torch.zeros((), device=self.device, dtype=torch.float64),
                correct=torch.zeros((), device=self.device, dtype=torch.int64))
        else:
            self.shuffle.set_state(p.shuffle_state)  # draws the same order; the batches done are skipped
        self.reporter.epoch_started(epoch, self.train_spec.epochs, n_batches)
        start, warmup = time.perf_counter() - p.seconds, engine.warmup_seconds

        def seconds() -> float:  # training time of the epoch so far, without the compiling step
            return time.perf_counter() - start - (engine.warmup_seconds - warmup)

        diverged = False
        for i, (x, y) in enumerate(batches.shuffled(self.shuffle, skip=p.step), p.step + 1):
            images, warming = batches.images_in(i), engine.warming_up
            loss, logits = engine.train_step(x, y, head.loss, self.optimizer, world.size * len(y) / images)
            self.scheduler.step()
            p.loss_sum += loss * len(y)
            p.correct += head.correct(logits, y)
            p.seen, p.step = p.seen + images, i
            p.timed += 0 if warming and not engine.warming_up else images
            self.diagnostics.after_step(self.steps_done, epoch)
            if self.refresh and i % self.refresh == 0 and i < n_batches:  # a read: waits for the device
                loss_sum, correct = world.totals(p.loss_sum, p.correct)
                if not math.isfinite(loss_sum):
                    diverged = True
                    break
                self.reporter.batch_done(i, loss_sum / p.seen, correct / p.seen, p.timed / max(seconds(), 1e-9))
            if i < n_batches and i % self.stop_every == 0 and (signum := self.stop()) is not None:
                p.seconds = seconds()
                self.diagnostics.write()  # the records up to this step, which a resume keeps
                self.save_last()
                self.reporter.message(f"stopped at epoch {epoch}, step {i} of {n_batches}: in checkpoints/last.pt")
                raise Interrupted(signum)
        loss_sum, correct = world.totals(p.loss_sum, p.correct)  # the epoch's figures: waits for the device
        elapsed = seconds()
        if self.refresh and not diverged:
            self.reporter.batch_done(p.step, loss_sum / p.seen, correct / p.seen, p.timed / max(elapsed, 1e-9))
        self.train_seconds += elapsed  # the whole epoch, its part before a resume included
        self.train_images += p.timed
        self.partial = EpochSoFar()
        return math.nan if diverged else loss_sum / p.seen, correct / p.seen

    def run(self) -> RunSummary:
        """Train the remaining epochs (or until early stopping / divergence), test the best checkpoint."""
        t = self.train_spec
        stopped_early = diverged = False
        self.diagnostics.record(0, step=0)
        self.events.start(self.rows, self.diagnostics.rows, self.diagnostics.distributions.recorded_histograms)
        while self.epoch < t.epochs:
            if self.out_of_patience:  # reached before a stop at the boundary
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
                val_loss, val_acc, _ = evaluate(self.engine, self.val_batches, self.head, self.data.info.num_classes)
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
            if self.world.is_main:
                self.store.write_metrics(self.rows)
            self.save_last()
            if improved:
                self.save_best()
            last = epoch == t.epochs or self.out_of_patience
            recorded = self.diagnostics.record(epoch, step=self.steps_done, last=last)
            self.events.epoch(row, recorded.diagnostics, recorded.histograms)
            self.reporter.epoch_done(row)
            if self.epoch < t.epochs and (signum := self.stop()) is not None and not self.out_of_patience:
                self.reporter.message(f"stopped after epoch {epoch}: in checkpoints/last.pt")
                raise Interrupted(signum)
        self.diagnostics.write()
        summary = self.summarize(stopped_early, diverged)
        self.events.end(summary)
        return summary

    def summarize(self, stopped_early: bool, diverged: bool) -> RunSummary:
        test_loss = test_acc = test_balanced_acc = None
        if self.rows:  # test once, on the best checkpoint
            if self.world.is_main:
                path = self._checkpoint("best.pt")
                checkpoint.load_weights(self.model, checkpoint.load(path, self.device), path)
            self.world.sync_module(self.model)
            test_loss, test_acc, test_balanced_acc = evaluate(self.engine, self.test_batches, self.head,
                                                                self.data.info.num_classes)
        info = self.data.info
        # The time of a diverged epoch counts too, though it has no metrics row.
        figures = {**epoch_figures(self.rows, self.monitor), "train_seconds": round(self.train_seconds, 3)}
        return RunSummary(
            **figures,
            test_acc=test_acc,
            test_balanced_acc=test_balanced_acc,
            test_loss=test_loss,
            chance_acc=self.data.test.labels.bincount().max().item() / len(self.data.test),
            params=self.analysis.params,
            macs=self.analysis.macs,
            receptive_field=self.analysis.receptive_field,
            images_per_second=round(self.train_images / self.train_seconds, 1) if self.train_seconds else None,
            compile_seconds=round(self.engine.warmup_seconds, 3) if self.engine.compiled else None,
            peak_gpu_memory=torch.cuda.max_memory_allocated(self.device) if self.device.type == "cuda" else None,
            stopped_early=stopped_early,
            diverged=diverged,
            input_shape=list(info.shape),
            classes=list(info.class_names),
            split_sizes={"train": len(self.data.train), "val": len(self.data.val) if self.data.val else 0,
                         "test": len(self.data.test)},
            normalization={"mean": list(self.data.normalizer.mean), "std": list(self.data.normalizer.std)},
            device=str(self.device),
            files=sorted({*self.store.files(), "summary.json"}) if self.store is not None else [],  # rank 0 writes
        )
