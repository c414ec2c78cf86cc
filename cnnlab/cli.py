"""The `cnnlab` command: thin Typer commands over the library.

Nothing here imports torch at module level; the commands that train import it when they run, so
`cnnlab --help`, `cnnlab shape` and `cnnlab compare` answer at once.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

import typer

from cnnlab import __version__
from cnnlab.commands import compare as compare_command
from cnnlab.commands import eval as eval_command
from cnnlab.commands import shape as shape_command
from cnnlab.commands import train as train_command
from cnnlab.errors import CnnlabError

app = typer.Typer(
    name="cnnlab",
    help="A laboratory for convolutional networks: train from YAML specs, compare runs, compute shapes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def user_errors(fn: Callable) -> Callable:
    """Turn a CnnlabError into one `error: ...` line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CnnlabError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cnnlab {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """cnnlab: train, compare and understand convolutional networks."""


def register(name: str, fn: Callable) -> None:
    """Add a command; its docstring is its help, and user errors become one line."""
    app.command(name=name)(user_errors(fn))


register("train", train_command.train)
register("shape", shape_command.shape)
register("eval", eval_command.evaluate)
register("compare", compare_command.compare)


def main() -> None:
    app(prog_name="cnnlab")


if __name__ == "__main__":
    sys.exit(main())
