"""`cnnlab export tensorboard|mlflow|onnx`: runs into the tools people already use (the work in
cnnlab.export, imported when a command runs; each asks for its pip extra first). `--help` imports
neither torch nor any extra."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cnnlab.commands import warn

app = typer.Typer(help="Export runs: TensorBoard event files, an MLflow tracking store, a model as ONNX.")

EXAMPLES = {
    "tensorboard": "cnnlab export tensorboard runs/activations --out tb && tensorboard --logdir tb",
    "mlflow": "cnnlab export mlflow runs/activations --tracking-uri sqlite:///mlflow.db --checkpoints",
    "onnx": "cnnlab export onnx runs/quickstart --latest --out quickstart.onnx",
}
EPILOG = "\n".join(["[bold]Examples[/bold]", *EXAMPLES.values()])


def example(name: str) -> str:
    return f"[bold]Example[/bold]\n{EXAMPLES[name]}"


Runs = Annotated[list[Path], typer.Argument(
    metavar="RUNS...", show_default=False,
    help="Run directories, sweep directories or runs roots (searched recursively).")]


@app.command(epilog=example("tensorboard"))
def tensorboard(
    paths: Runs,
    out: Annotated[Path, typer.Option("--out", "-o", metavar="DIR", show_default=False,
                                      help="Where the event folders go: DIR/<name>/<run-id>/.")],
) -> None:
    """Write TensorBoard event files, one folder per run, for `tensorboard --logdir DIR`.

    Per epoch the training and validation loss and accuracy and the learning rate, per recorded epoch
    every layer's diagnostics (diagnostics/<statistic>/<layer>), the summary's figures (summary/...),
    and the HParams tab's sessions: each run's swept values and seed, its status, and its final
    metrics. Exporting again rewrites the same files (a run that trained on shows its new epochs).
    Needs pip install 'cnnlab\\[tensorboard]'. To stream while training instead: train.tensorboard: true.
    """
    from cnnlab.export.tensorboard import export_tensorboard
    from cnnlab.util.text import plural

    written = export_tensorboard(paths, out, warn)
    typer.echo(f"wrote {plural(len(written), 'run')} into {out} (tensorboard --logdir {out})")


@app.command(epilog=example("mlflow"))
def mlflow(
    paths: Runs,
    tracking_uri: Annotated[str, typer.Option("--tracking-uri", metavar="URI", show_default=False,
                                              help="The tracking store: sqlite:///mlflow.db, a server's http://..., "
                                                   "or a folder.")],
    experiment: Annotated[str | None, typer.Option("--experiment", metavar="NAME", show_default=False,
                                                   help="The MLflow experiment for every run. Default: each run's "
                                                        "own experiment name.")] = None,
    checkpoints: Annotated[bool, typer.Option("--checkpoints", help="Also log checkpoints/best.pt as an "
                                                                    "artifact.")] = False,
    artifacts: Annotated[str | None, typer.Option("--artifact-location", metavar="URI", show_default=False,
                                                  help="Where a new MLflow experiment keeps its artifacts. "
                                                       "Default: MLflow's (./mlruns for a sqlite store).")] = None,
) -> None:
    """Log runs into an MLflow tracking store, one MLflow run per cnnlab run.

    Params: the resolved spec, flattened (model.conv.0.kernel_size). Metrics: metrics.csv's columns
    with the epoch as step, and the summary's figures. Tags: cnnlab.run_id, cnnlab.status,
    cnnlab.experiment. Artifacts: spec.yaml and summary.json (and best.pt of a finished run with --checkpoints).
    Exporting again finds each run by its cnnlab.run_id tag and adds only what is new: never a second
    MLflow run, never a metric twice. Needs pip install 'cnnlab\\[mlflow]'.
    """
    from cnnlab.export.mlflow import export_mlflow
    from cnnlab.util.text import plural

    done = export_mlflow(paths, tracking_uri, experiment, checkpoints, artifacts, warn)
    created = sum(e.created for e in done)
    updated = sum(not e.created and e.logged > 0 for e in done)
    typer.echo(f"{plural(len(done), 'run')} into {tracking_uri}: {created} created, {updated} updated, "
               f"{len(done) - created - updated} unchanged")


@app.command(epilog=example("onnx"))
def onnx(
    run: Annotated[Path, typer.Argument(metavar="RUN", show_default=False,
                                        help="A run directory (or a piece of its id, as cnnlab eval takes it).")],
    out: Annotated[Path | None, typer.Option("--out", "-o", metavar="FILE", show_default=False,
                                             help="The .onnx file. Default: <run-id>.onnx here.")] = None,
    opset: Annotated[int | None, typer.Option("--opset", min=7, metavar="N", show_default=False,
                                              help="The ONNX opset. Default: torch.onnx's.")] = None,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch/--fixed-batch",
                                                help="Any batch size, or batches of one image only.")] = True,
    latest: Annotated[bool, typer.Option("--latest", help="With an experiment folder: its completed run started "
                                                          "last.")] = False,
) -> None:
    """Export a run's best checkpoint as ONNX, with its input padding and normalization in the graph.

    The graph takes the dataset's images scaled to [0, 1] (N×C×H×W, before data.pad) and gives the
    logits; the file's metadata names the classes. It is checked with onnxruntime against the run's
    torch model on a batch of its test images (which loads the run's data), and refused beyond a
    difference of 1e-4. Needs pip install 'cnnlab\\[onnx]'.
    """
    from cnnlab.compare.find import find_run
    from cnnlab.export.onnx import export_onnx  # torch only when it runs
    from cnnlab.train.threads import configure_threads

    chosen = find_run(run, latest=latest, warn=warn)
    configure_threads()  # before torch loads
    done = export_onnx(chosen, out or Path(f"{chosen.name}.onnx"), opset, dynamic_batch)
    typer.echo(f"wrote {done.path} (opset {done.opset}): onnxruntime's logits are within {done.max_delta:.1e} of the "
               f"run's model on {done.images} test images")
