"""Train a small sweep from Python, load it into pandas, group it, and plot one figure.

    python examples/sweep_in_pandas.py [OUT_DIR]

Trains 2 activations × 2 seeds of a small CNN on the built-in `shapes` dataset (no download, under
a minute on two CPU cores) into OUT_DIR/runs/, prints the test accuracy of each activation (mean and
std over the seeds) and writes OUT_DIR/val_acc.png: validation accuracy per epoch, one line per
activation. Run it again and it trains nothing: the runs completed, so they are skipped.
"""

import sys
from pathlib import Path

import cnnlab

SPEC = {  # what a YAML spec file would hold (docs/spec.md)
    "name": "activations_demo",
    "data": {"dataset": {"name": "shapes", "image_size": 16, "train_size": 480, "test_size": 160}},
    "model": {"conv": [{"out_channels": 8, "kernel_size": 3, "padding": 1, "pool": {"type": "max", "kernel_size": 2}}],
              "fc": [32]},
    "train": {"epochs": 3, "batch_size": 32, "threads": 1},
    "sweep": {"model.activation": ["relu", "tanh"]},
    "seeds": [0, 1],
}


def main(out: Path) -> None:
    runs = cnnlab.train(SPEC, runs_dir=out / "runs", quiet=True)  # a list of cnnlab.Run
    table = cnnlab.load_runs(*(run.path for run in runs))  # one row per run: spec keys and summary figures
    print(table.groupby("model.activation").test_acc.agg(["mean", "std", "count"]).round(3).to_string())

    curves = cnnlab.load_metrics(*(run.path for run in runs)).merge(table[["id", "model.activation"]], on="id")
    by_epoch = curves.groupby(["epoch", "model.activation"]).val_acc.mean().unstack()
    ax = by_epoch.plot(marker="o", title="validation accuracy, mean over 2 seeds")
    ax.set_ylabel("validation accuracy")
    ax.set_xticks(by_epoch.index)
    ax.figure.savefig(out / "val_acc.png", dpi=100)
    print(f"wrote {out / 'val_acc.png'}")


if __name__ == "__main__":  # (and --jobs > 1 would start worker processes, which import this file)
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("."))
