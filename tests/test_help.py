"""`--help` reads as prose at any width: a paragraph's lines are filled up to the width the help is
shown at, not broken where the source happened to wrap its docstring."""

from __future__ import annotations

import re
from itertools import pairwise

import pytest
from typer.testing import CliRunner

from cnnlab.cli import LIST_ITEM, app

COMMANDS = ["train", "shape", "eval", "compare", "report", "ls", "inspect"]


def help_lines(args: list[str], width: int) -> list[str]:
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(width), "TTY_COMPATIBLE": "0"})
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def ragged(lines: list[str], width: int) -> list[str]:
    """Lines of a paragraph that end short of their room although the next line's first word would
    have fitted there (and does not start an item of a list): in the description (after the usage
    line, above the panels) and in the help cells of the command list. Options' help is one string
    each, which Rich fills; the epilog under the panels is lines by design (examples, lists)."""
    top = next((i for i, line in enumerate(lines) if line.startswith("╭")), len(lines))
    usage_end = next(i for i, line in enumerate(lines) if i and not line.strip() and lines[i - 1].strip())
    pairs = [(line.rstrip(), after[1:], width - 1) for line, after in pairwise(lines[usage_end:top])]
    if any(line.startswith("╭─ Commands") for line in lines):
        pairs += _listing_pairs(lines)
    return [f"{line.strip(' │')!r} before {after.split()[0]!r}" for line, after, room in pairs
            if line.strip() and after.strip() and not LIST_ITEM.match(after.lstrip())
            and len(line) + 1 + len(after.split()[0]) < room]


def _listing_pairs(lines: list[str]) -> list[tuple[str, str, int]]:
    """(a line, the next line's text in the same help cell, the line's room) in the command list."""
    start = next(i for i, line in enumerate(lines) if line.startswith("╭─ Commands")) + 1
    rows = lines[start:next(i for i in range(start, len(lines)) if lines[i].startswith("╰"))]
    column = re.match(r"│ \S+ +", rows[0]).end()  # where the help cells start
    return [(line.rstrip(" │"), after[column:].rstrip(" │"), len(line) - 2)
            for line, after in pairwise(rows) if not after[1:column].strip()]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)], ids=["cnnlab", *COMMANDS])
def test_help_paragraphs_fill_their_lines(command, width):
    lines = help_lines(command, width)
    assert max(len(line) for line in lines) <= width
    assert ragged(lines, width) == []


def test_the_command_list_names_every_command_with_its_summary():
    """Each command's module loads only when that command runs, yet `cnnlab --help` lists them all."""
    text = "\n".join(help_lines([], 120))
    for name, summary in [("train", "Train the model"), ("shape", "Output shape, params"), ("eval", "Evaluate a"),
                          ("compare", "Put runs side"), ("report", "Write a markdown"), ("ls", "List runs"),
                          ("inspect", "Why runs learn")]:
        assert re.search(rf"^│ {name} +{summary}", text, re.MULTILINE), name


def test_a_list_in_a_docstring_keeps_its_lines():
    starts = [line.strip()[:12] for line in help_lines(["report"], 120)]
    assert {"- 'A > B' ho", "- 'A ~= B' h", "- 'A > B on ", "- a figure o"} <= set(starts)


def test_the_check_finds_a_line_broken_early():
    """The check itself works, on lines cut where a docstring was wrapped (as the help of 0cc5b85 shows)."""
    cell = "│ {:<76} │".format
    lines = [" Usage: cnnlab x", "", " A paragraph whose first line stops".ljust(80), " here although it fits.",
             "╭─ Commands ─╮", cell("a    A command whose help stops"), cell("     here but goes on."), "╰──╯"]
    assert ragged(lines, 80) == ["'A paragraph whose first line stops' before 'here'",
                                 "'a    A command whose help stops' before 'here'"]
