"""The `cnnlab` command: thin Typer commands over the library.

A command's module (cnnlab.commands.NAME) is imported only when that command runs or `--help` lists
it, and no module imports torch at import time (the commands that train import it when they run),
so `cnnlab --help`, `cnnlab shape`, `cnnlab compare` and `cnnlab inspect` answer at once.
"""

from __future__ import annotations

import functools
import gc
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup

from cnnlab import __version__
from cnnlab.errors import CnnlabError
from cnnlab.util.process import exit_now

# name → (its function in cnnlab.commands.NAME, or its Typer app for a group of commands; the module's
# epilog: text, or a function that makes it)
COMMANDS = {
    "train": ("train", "epilog"),
    "shape": ("shape", "EPILOG"),
    "eval": ("evaluate", "EPILOG"),
    "compare": ("compare", "EPILOG"),
    "report": ("report", "EPILOG"),
    "ls": ("ls", "EPILOG"),
    "inspect": ("inspect", "EPILOG"),
    "export": ("app", "EPILOG"),
}
LIST_ITEM = re.compile(r"([-*•]|\d+[.)]) ")  # a docstring line that starts an item of a list

# click's exceptions, from whichever click this typer uses (its own copy since typer 0.26, click before).
_click_errors = importlib.import_module(TyperGroup.__bases__[0].__module__.rpartition(".")[0] + ".exceptions")


class OneLineErrors(TyperGroup):
    """Click's usage errors (an unknown option, a value outside its choices, a missing argument) as one
    `error:` line and exit status 2, like cnnlab's own errors, instead of a usage banner and a panel."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        given = kwargs.get("args", args[0] if args else None)
        if (problem := not_utf8(sys.argv[1:] if given is None else given)) is not None:
            typer.echo(f"error: {problem}", err=True)
            sys.exit(2)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except _click_errors.NoArgsIsHelpError as err:
            typer.echo(err.format_message())
            sys.exit(0)
        except _click_errors.ClickException as err:
            ctx = getattr(err, "ctx", None)
            hint = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
            typer.echo(f"error: {err.format_message()}{hint}", err=True)
            sys.exit(err.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def not_utf8(arguments: Sequence[str]) -> str | None:
    """What is wrong with the first argument that is not UTF-8 text (Python hands such bytes on as lone
    surrogates, which no file, YAML parser or terminal takes), shown with its bytes escaped; None if all are."""
    for number, argument in enumerate(arguments, 1):
        try:
            argument.encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(argument).decode("utf-8", "backslashreplace")
            return f"argument {number} ({shown}) is not UTF-8 text; cnnlab takes UTF-8 arguments, file names included"
    return None


class LazyCommands(Mapping):
    """The commands by name, each built (and its module imported) when it is first looked up: running
    one command imports none of the others' modules."""

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)

    def __getitem__(self, name: str) -> Any:
        if name not in COMMANDS:
            raise KeyError(name)
        return _command(name)


class Cnnlab(OneLineErrors):
    """cnnlab's group: one-line usage errors, and the commands of COMMANDS, imported when needed."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = LazyCommands()


app = typer.Typer(
    name="cnnlab",
    cls=Cnnlab,
    help="A laboratory for convolutional networks: train from YAML specs, compare runs, compute shapes.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def user_errors(fn: Callable) -> Callable:
    """Turn a CnnlabError into one `error: ...` line on stderr and exit status 2 (and Ctrl-C into 130)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except CnnlabError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:  # Ctrl-C in a command that reads files only: nothing to record
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

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


class LazyEpilog(TyperCommand):
    """A command whose epilog may be a function, called only when its --help is shown (a listing
    drawn from the registries costs the command nothing when it runs)."""

    @property
    def epilog(self) -> str | None:
        return self._epilog() if callable(self._epilog) else self._epilog

    @epilog.setter
    def epilog(self, value: str | Callable[[], str] | None) -> None:
        self._epilog = value


def reflow(doc: str) -> str:
    """A docstring as help text: the lines of each paragraph joined, for Rich to wrap at the width
    the help is shown at (Typer keeps every line break after the first paragraph, so the source's
    wrapping would break lines in mid-sentence); paragraphs stay apart and list items on lines of
    their own."""
    paragraphs = []
    for paragraph in inspect.cleandoc(doc).split("\n\n"):
        lines: list[str] = []
        for line in paragraph.splitlines():
            if lines and not LIST_ITEM.match(line):
                lines[-1] += " " + line.strip()
            else:
                lines.append(line)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


@functools.cache
def _command(name: str) -> Any:
    """Command `name`: its function's docstring is its help, its module's examples the epilog, and user
    errors become one line."""
    function, epilog = COMMANDS[name]
    module = importlib.import_module(f"cnnlab.commands.{name}")
    fn = getattr(module, function)
    if isinstance(fn, typer.Typer):
        return _group(name, fn, getattr(module, epilog))
    one = typer.Typer(add_completion=False, rich_markup_mode="rich")
    one.command(name=name, help=reflow(fn.__doc__ or ""), epilog=getattr(module, epilog), cls=LazyEpilog)(
        user_errors(fn))
    return typer.main.get_command(one)


def _group(name: str, commands: typer.Typer, epilog: str) -> Any:
    """A group of commands (`cnnlab export tensorboard ...`), each made as a command of COMMANDS is."""
    group = typer.Typer(name=name, help=commands.info.help, epilog=epilog, no_args_is_help=True,
                        add_completion=False, rich_markup_mode="rich")
    for info in commands.registered_commands:
        group.command(name=info.name or info.callback.__name__, help=reflow(info.callback.__doc__ or ""),
                      epilog=info.epilog, cls=LazyEpilog)(user_errors(info.callback))
    return typer.main.get_group(group)


def main() -> None:
    """The `cnnlab` command, which ends without Python's costly cleanup: a process that imported torch
    exits at once (torch's teardown takes seconds, with nothing left to do); any other freezes its
    objects first, so that the collections at exit skip them (a fifth of `cnnlab shape`)."""
    try:
        app(prog_name="cnnlab")
    except SystemExit as done:
        if "torch" in sys.modules and (done.code is None or isinstance(done.code, int)):
            exit_now(done.code or 0)
        raise
    finally:
        if "torch" not in sys.modules:  # all that reference counting frees is freed as before
            gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
