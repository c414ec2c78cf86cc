"""The options that choose one run from an experiment folder, shared by the commands that read one run
(`eval`, `inspect`); the choosing itself is cnnlab.compare.find."""

from __future__ import annotations

from typing import Annotated

import typer

RUN_HELP = ("A run directory; an experiment folder (runs/<name>) with --latest or --best; or runs/<name>/PIECE, "
            "the run whose id starts with or contains PIECE.")
Latest = Annotated[bool, typer.Option("--latest", help="From an experiment folder: its completed run started last.")]
Best = Annotated[str | None, typer.Option(
    "--best", metavar="METRIC", help="From an experiment folder: its finished run best on METRIC (test_acc, "
    "best_val_acc, final_train_loss ...: the names of cnnlab compare).")]
