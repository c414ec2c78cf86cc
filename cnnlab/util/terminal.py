"""Where output goes, and how wide it may be: one rule for every command.

In a terminal, output fits the terminal's width. Into a pipe or a file it is not cut to any width
(it is for files, grep and other programs), unless COLUMNS says how wide. Detection follows Rich's
conventions, so that a user (or a test) can choose:
  COLUMNS=N         the width to fit, in a terminal or not
  TTY_COMPATIBLE=1  behave as in a terminal even into a pipe (colours, fitting; e.g. `| less -R`);
                    TTY_COMPATIBLE=0 as into a file even in a terminal
  TTY_INTERACTIVE=0 no live progress display in a terminal (one line per finished run instead)
  NO_COLOR=1        no colours
"""

from __future__ import annotations

import os
import sys
import textwrap
from typing import TextIO

from rich.console import Console

UNLIMITED = 1_000_000  # the width of a console that must never wrap nor cut (a pipe without COLUMNS)


def make_console(stderr: bool = False) -> Console:
    """A console for cnnlab's output: the terminal's width in a terminal, COLUMNS when it is set,
    otherwise no width limit; no syntax highlighting of numbers (cnnlab colours what it means)."""
    console = Console(highlight=False, stderr=stderr)
    if not console.is_terminal and not _columns():
        console = Console(highlight=False, stderr=stderr, width=UNLIMITED)
    return console


def console_for(stream: TextIO) -> Console:
    """make_console's console for standard output; for any other stream (a file, a test's buffer), a
    console without a width limit."""
    return make_console() if stream is sys.stdout else Console(file=stream, highlight=False, width=UNLIMITED)


def _columns() -> int | None:
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def room(console: Console) -> int | None:
    """How many columns a line printed on `console` may take; None: any number."""
    return None if console.width >= UNLIMITED else console.width


def wrap(text: str, width: int | None, indent: str = "") -> list[str]:
    """`text` as lines of at most `width` columns, broken between words only (a word longer than
    the width stays whole on its own line); one line when `width` is None. `indent` starts every
    line after the first."""
    if width is None:
        return [text]
    return textwrap.wrap(text, width=width, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [""]
