"""The CLI's commands, one module each: Typer signatures, help and examples only; cnnlab.cli
imports a command's module only when that command runs or `--help` lists it. Each command imports
its work (and any torch-side package) inside its function, so `cnnlab --help` and the torch-free
commands answer at once.

Torch-free. May import at module level: typer, its own modules, cnnlab.errors, cnnlab.shape.adhoc (the
layer syntax for shape's help text), cnnlab.compare.flags (inspect's thresholds for its help text),
cnnlab.compare.metrics and cnnlab.compare.bands (compare's columns and bands for its help text),
cnnlab.compare.figures (inspect's views for its help text).
"""

import typer


def warn(message: str) -> None:
    """A warning line on stderr, as the commands that read runs print them."""
    typer.echo(f"warning: {message}", err=True)
