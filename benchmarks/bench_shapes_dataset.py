"""Time shapes-dataset generation (median of several runs) and optionally save a grid of examples.

    .venv/bin/python benchmarks/bench_shapes_dataset.py [--n 10000] [--repeats 5] [--grid /tmp/shapes.png] [--quick]

The grid (one row per class) is for looking at: does each class look like its name? --quick: 200
images, one run each (the test suite runs it: the benchmark works, its figures mean nothing).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cnnlab.data.shapes_dataset import CLASS_NAMES, generate
from cnnlab.data.shapes_options import ShapesDrawing


def median_seconds(repeats: int, n: int, **options) -> float:
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        generate(n, ShapesDrawing(**options), seed=seed)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def save_grid(path: str, per_class: int = 8, **options) -> None:
    """Save `per_class` examples of every class as a PNG, one row per class."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images, labels = generate(per_class * len(CLASS_NAMES), ShapesDrawing(**options))  # balanced: per_class of each
    fig, axes = plt.subplots(len(CLASS_NAMES), per_class, figsize=(per_class * 1.1, len(CLASS_NAMES) * 1.2))
    for label, name in enumerate(CLASS_NAMES):
        for ax, index in zip(axes[label], np.flatnonzero(labels == label), strict=True):
            ax.imshow(images[index].transpose(1, 2, 0).squeeze(), cmap="gray", vmin=0, vmax=255)
            ax.axis("off")
        axes[label, 0].set_title(name, fontsize=8, loc="left")
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="images per generate() call")
    parser.add_argument("--repeats", type=int, default=5, help="runs per setting; prints the median")
    parser.add_argument("--grid", help="also save a grid of examples here (and PATH-rgb.png)")
    parser.add_argument("--quick", action="store_true", help="200 images, one run each: does it work?")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 200, 1

    for size, channels in [(28, 1), (28, 3), (64, 1)]:
        seconds = median_seconds(args.repeats, args.n, image_size=size, channels=channels)
        print(
            f"generate({args.n}, image_size={size}, channels={channels}): median {seconds:.3f} s "
            f"over {args.repeats} runs ({args.n / seconds:,.0f} images/s)"
        )
    if args.grid:
        save_grid(args.grid)
        rgb_path = args.grid.removesuffix(".png") + "-rgb.png"
        save_grid(rgb_path, channels=3)
        print(f"saved {args.grid} and {rgb_path}")


if __name__ == "__main__":
    main()
