"""`cnnlab train EXP.yaml`: the command line; the work is in cnnlab.run.launch."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import typer

EXAMPLES = [
    "[bold]Examples[/bold]",
    "cnnlab train experiments/quickstart.yaml --set model.activation=tanh --set train.epochs=3",
    "cnnlab train experiments/activations.yaml --set data.dataset=shapes --jobs 2",
    "cnnlab train experiments/lenet5.yaml --set 'data.dataset={name: npz, path: mnist.npz}'   [dim]# Keras' file[/dim]",
    "cnnlab train --resume runs/quickstart/20261127-061001-s0-eac7",
    "cnnlab train experiments/activations.yaml --resume",
    "cnnlab train experiments/activations.yaml --set data.dataset=shapes --until-decided --max-seeds 10 --jobs 2",
    "torchrun --nproc-per-node 4 -m cnnlab train experiments/cifar10.yaml   [dim]# one run on 4 GPUs (DDP)[/dim]",
    "torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29500 "
    "-m cnnlab train exp.yaml",
    "cnnlab train experiments/activations.yaml --backend ray --address auto   [dim]# a sweep on a Ray cluster[/dim]",
    "sbatch --array=1-4 --wrap 'cnnlab train experiments/activations.yaml --shard $SLURM_ARRAY_TASK_ID/4'",
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
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Runs at a time, in as many worker processes (each "
                                                           "trains one run after another) with an equal share of "
                                                           "the CPU threads (or a GPU each)."),
    force: bool = typer.Option(False, "--force", help="Run again even the runs that already completed."),
    fail_fast: bool = typer.Option(False, "--fail-fast", help="Stop at the first failed run."),
    resume: bool = typer.Option(False, "--resume", help="Continue interrupted, failed or stale runs from their "
                                                         "last checkpoint, exactly: a RUN directory, or every "
                                                         "such run of EXP.yaml's sweep (the others start anew)."),
    shard: str = typer.Option(None, "--shard", metavar="I/N", show_default=False,
                              help="Train only shard I of N (numbered from 1, as `sbatch --array=1-N` numbers its "
                                   "tasks): runs are dealt out by their identity, so the N shards together train "
                                   "the whole sweep, each run once, whatever order the YAML lists it in."),
    until_decided: bool = typer.Option(False, "--until-decided", rich_help_panel="Claims",
                                       help="Train the spec's seeds, then add seeds in rounds, only to the "
                                            "configurations its undecided claims name, until every claim is "
                                            "decided or those have --max-seeds seeds. Each look at the claims tests "
                                            "at its share of α (a Bonferroni split over the planned looks by Lan & "
                                            "DeMets' Pocock-type spending function), so looking again cannot make "
                                            "a false verdict likelier than 0.05."),
    max_seeds: int = typer.Option(10, "--max-seeds", min=2, rich_help_panel="Claims",
                                  help="With --until-decided: the most seeds any configuration gets."),
    backend: Literal["local", "ray"] = typer.Option("local", "--backend", rich_help_panel="Ray",
                                                    help="Where the runs train: this machine (--jobs at a time) "
                                                         "or a Ray cluster, each run a Ray task (pip install "
                                                         r"'cnnlab\[ray]')."),
    address: str = typer.Option(None, "--address", metavar="auto|HOST:PORT", show_default=False, rich_help_panel="Ray",
                                help="The Ray cluster to use (auto: the one `ray start` runs here or RAY_ADDRESS "
                                     "names). Default: a local Ray instance, started and stopped by this command."),
    cpus_per_run: int = typer.Option(None, "--cpus-per-run", min=1, show_default=False, rich_help_panel="Ray",
                                     help="CPUs each run's task asks for, and its torch threads. Default: the "
                                          "spec's train.threads, else 1."),
    gpus_per_run: float = typer.Option(None, "--gpus-per-run", min=0, show_default=False, rich_help_panel="Ray",
                                       help="GPUs each run's task asks for (0.5: two runs share one). Default: 1 "
                                            "when the spec's device is cuda, or auto on a cluster with GPUs; else 0."),
    ship: bool = typer.Option(None, "--ship/--no-ship", show_default=False, rich_help_panel="Ray",
                              help="Ship each finished run directory back through Ray's object store and place it "
                                   "under --runs-dir, or let the workers write there directly. Default: write "
                                   "directly when every node sees --runs-dir (checked with a probe file; always, "
                                   "for a local instance), since then running runs are visible and their claims "
                                   "shared; ship otherwise."),
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
    from cnnlab.errors import UsageError
    from cnnlab.run.launch import launch  # the work, and its imports, only when the command runs
    from cnnlab.run.request import RayOptions, TrainRequest
    from cnnlab.spec.shard import parse_shard

    given = {"--address": address, "--cpus-per-run": cpus_per_run, "--gpus-per-run": gpus_per_run, "--ship": ship}
    if backend != "ray" and (used := [name for name, value in given.items() if value is not None]):
        raise UsageError(f"{used[0]} applies only with --backend ray")
    request = TrainRequest(
        spec_file, tuple(overrides), runs_dir, dry_run=dry_run, jobs=jobs, force=force, fail_fast=fail_fast,
        resume=resume, shard=parse_shard(shard) if shard is not None else None,
        ray=RayOptions(address, cpus_per_run, gpus_per_run, ship) if backend == "ray" else None,
        until_decided=until_decided, max_seeds=max_seeds,
    )
    status = launch(request)
    if status:
        raise typer.Exit(status)
