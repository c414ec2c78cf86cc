"""`cnnlab train EXP.yaml`: the command line; the work is in cnnlab.run.launch."""

from __future__ import annotations

from pathlib import Path

import typer

EXAMPLES = [
    "[bold]Examples[/bold]",
    "cnnlab train experiments/quickstart.yaml --set model.activation=tanh --set train.epochs=3",
    "cnnlab train experiments/activations.yaml --set data.dataset=shapes --jobs 2",
    "cnnlab train --resume runs/quickstart/20261127-061001-s0-eac7",
    "cnnlab train experiments/activations.yaml --resume",
    "torchrun --nproc-per-node 4 -m cnnlab train experiments/cifar10.yaml   [dim]# one run on 4 GPUs (DDP)[/dim]",
    "torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 "
    "-m cnnlab train exp.yaml",
]
OPTION_KINDS = ("optimizer", "scheduler", "norm", "activation", "init", "augmentation")


def epilog() -> str:
    """The examples, then every named choice's options with their ranges (read from the registries
    when --help is shown: the same annotations the spec is validated with)."""
    from cnnlab.registry import options_help

    return "\n".join([*EXAMPLES, "", "[bold]Options of named choices[/bold] (e.g. optimizer: {name: sgd, lr: 0.1})",
                      *(line.replace("[", "\\[") for line in options_help(OPTION_KINDS))])


def train(
    spec_file: Path = typer.Argument(None, metavar="EXP.yaml|RUN", show_default=False,
                                     help="The experiment spec (YAML), or with --resume a run directory."),
    overrides: list[str] = typer.Option([], "--set", "-s", metavar="KEY=VALUE",
                                        help="Override a spec key, e.g. --set model.activation=tanh (repeatable)."),
    runs_dir: Path = typer.Option(Path("runs"), "--runs-dir", help="Where run directories are written."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the resolved spec, the runs and the model's "
                                                           "layers; train nothing."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Runs at a time, each in its own process with "
                                                           "an equal share of the CPU threads (or its own GPU)."),
    force: bool = typer.Option(False, "--force", help="Run again even the runs that already completed."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed run."),
    resume: bool = typer.Option(False, "--resume", help="Continue interrupted, failed or stale runs from their "
                                                         "last checkpoint, exactly: a RUN directory, or every "
                                                         "such run of EXP.yaml's sweep (the others start anew)."),
) -> None:
    """Train the model of a spec (every run of its sweep); write metrics and checkpoints to runs/<name>/<run-id>/.

    Runs that already completed with the same resolved spec are skipped (--force runs them again).
    Ctrl-C or SIGTERM stops after the current step, saves checkpoints/last.pt and marks the run
    interrupted (exit 130 or 143); a second one stops at once.
    Every run also records per-layer diagnostics on a fixed probe batch (train.diagnostics; see cnnlab inspect).
    Conv and linear layers directly before batch or instance norm have no bias (Ioffe & Szegedy 2015):
    --dry-run's layer table says so.

    Under torchrun every run is trained by all its processes together with DistributedDataParallel,
    one run after the other: train.batch_size is the global batch, split across the processes (each
    takes its part of every seeded batch, so the run computes what one process would), batch norm
    is synchronised (train.sync_bn), one run directory is written (by rank 0), and a failure on any
    process fails the run, naming its rank. On GPUs: train.precision (auto: bf16 where the GPU has
    it), train.channels_last, train.compile, train.deterministic.
    """
    from cnnlab.run.launch import launch  # the work, and its imports, only when the command runs

    status = launch(spec_file, overrides, runs_dir, dry_run, jobs, force, fail_fast, resume)
    if status:
        raise typer.Exit(status)
