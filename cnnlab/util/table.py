"""Tables for people, one line per row, that fit where they are printed.

Every command's table (shape, train --dry-run, compare, eval, ls, inspect) is drawn here, so they
share one behaviour: cells are never cut nor wrapped, so a number is always whole and a row greps as
one line. When a table is wider than the room it has (a terminal's width, or COLUMNS), the table's
own narrowing steps are taken in order until it fits: a column switches to a shorter form of its
cells ("compact") or is left out whole ("drop"), and a note under the table names what was left
out. Without a width limit (a pipe or a file) the table is printed whole.

Drawn by hand rather than with rich.table, which costs about a millisecond a row (too slow for a
thousand runs) and wraps or cuts cells it cannot fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from cnnlab.util.terminal import room, wrap

Span = tuple[int, int, str]  # (start, end, Rich style) within a cell's text


@dataclass
class Column:
    header: str
    cells: Sequence[str]
    align: Literal["left", "right"] = "left"
    footer: str = ""
    compact: Sequence[str] | None = None  # shorter cells, used when a narrowing step says so
    compact_header: str | None = None
    compact_note: str = ""  # said under the table when the compact form is shown
    note: str = ""  # what the column means, said under the table when it is shown
    style: Callable[[int, str], Sequence[Span]] | None = None  # spans of row i's cell, on a terminal
    name: str = ""  # what narrowing steps and the left-out note call it; the header by default

    def __post_init__(self) -> None:
        self.name = self.name or self.header

    def texts(self, compact: bool) -> tuple[str, Sequence[str]]:
        if compact and self.compact is not None:
            return (self.compact_header or self.header), self.compact
        return self.header, self.cells

    def width(self, compact: bool) -> int:
        header, cells = self.texts(compact)
        return max([cell_len(header), cell_len(self.footer), *(cell_len(c) for c in cells)])


Step = tuple[Literal["drop", "compact"], str]


@dataclass
class TextTable:
    columns: list[Column]
    title: str = ""
    notes: list[str] = field(default_factory=list)  # under the table, each wrapped between words
    narrowing: Sequence[Step] = ()  # taken in order while the table is too wide
    under: Sequence[Sequence[str]] = ()  # lines printed beneath row i (e.g. its formula), indented
    left_out_hint: str = ""  # ends the note naming left-out columns, e.g. " (see --metrics)"
    gap: str = "  "

    @property
    def rows(self) -> int:
        return len(self.columns[0].cells) if self.columns else 0


@dataclass(frozen=True)
class Layout:
    """A table fitted to a width: which columns show, in which form, and which were left out."""

    shown: list[tuple[Column, bool]]  # (column, compact)
    dropped: list[str]

    def width(self, gap: str) -> int:
        return sum(c.width(compact) for c, compact in self.shown) + len(gap) * (len(self.shown) - 1)


def fit(table: TextTable, width: int | None) -> Layout:
    """The table's layout in at most `width` columns (None: no limit), taking its narrowing steps
    in order until it fits; when even the last step leaves it too wide, it is shown as narrow as
    it gets (wider than asked: never a cut cell)."""
    compact: set[str] = set()
    dropped: list[str] = []

    def layout() -> Layout:
        shown = [(c, c.name in compact) for c in table.columns if c.name not in dropped]
        return Layout(shown, list(dropped))

    names = {c.name for c in table.columns}
    current = layout()
    for kind, name in table.narrowing:
        if width is None or current.width(table.gap) <= width:
            break
        if name not in names or name in dropped or len(current.shown) == 1:
            continue
        (dropped.append if kind == "drop" else compact.add)(name)
        current = layout()
    return current


def _pad(text: str, width: int, align: str, last: bool) -> tuple[str, int]:
    """`text` padded to `width` cells, and where the text starts; the last left-aligned cell of a
    line is not padded (lines carry no trailing blanks)."""
    pad = " " * (width - cell_len(text))
    if align == "right":
        return pad + text, len(pad)
    return (text if last else text + pad), 0


def table_lines(table: TextTable, width: int | None, styled: bool = False) -> list[Text | str]:
    """The table as printed lines (rich Text with styles when `styled`): title, header, rule, rows,
    footer, notes."""
    layout = fit(table, width)
    gap = table.gap
    widths = [c.width(compact) for c, compact in layout.shown]
    out: list[Text | str] = []

    def line(cells: Sequence[str], spans: Sequence[Sequence[Span]] | None = None, style: str = "") -> None:
        pieces, all_spans, at = [], [], 0
        for i, ((column, _), text) in enumerate(zip(layout.shown, cells, strict=True)):
            piece, start = _pad(text, widths[i], column.align, i == len(cells) - 1)
            if spans is not None:
                all_spans += [(at + start + a, at + start + b, s) for a, b, s in spans[i]]
            pieces.append(piece)
            at += len(piece) + len(gap)
        text = gap.join(pieces).rstrip()  # a blank right-aligned last cell is all padding
        if not styled:
            out.append(text)
            return
        rich = Text(text, style=style)
        for a, b, s in all_spans:
            rich.stylize(s, a, b)
        out.append(rich)

    def plain(text: str, style: str = "") -> None:
        text = text.rstrip()  # through a pipe the lines are data: nothing after their last character
        out.append(Text(text, style=style) if styled else text)

    if table.title:
        for piece in wrap(table.title, width):
            plain(piece, "bold")
        plain("")
    line([c.texts(compact)[0] for c, compact in layout.shown], style="bold")
    rule = "─" * layout.width(gap)
    plain(rule)
    texts = [c.texts(compact)[1] for c, compact in layout.shown]
    indent = " " * (widths[0] + len(gap)) if layout.shown else ""
    for r in range(table.rows):
        cells = [t[r] for t in texts]
        spans = None
        if styled:
            spans = [c.style(r, text) if c.style else () for (c, _), text in zip(layout.shown, cells, strict=True)]
        line(cells, spans)
        for extra in table.under[r] if r < len(table.under) else ():
            for piece in wrap(extra, None if width is None else max(width - len(indent), 20)):
                plain(indent + piece, "dim")
    if any(c.footer for c, _ in layout.shown):
        plain(rule)
        line([c.footer for c, _ in layout.shown], style="bold")
    notes = list(table.notes)
    meanings = [c.note for c, _ in layout.shown if c.note]
    meanings += [c.compact_note for c, compact in layout.shown if compact and c.compact_note]
    if meanings:
        notes.append("; ".join(meanings) + ".")
    if layout.dropped:
        headers = {c.name: c.header for c in table.columns}
        left_out = ", ".join(headers[name] for name in layout.dropped)
        notes.append(f"left out to fit {width} columns: {left_out}{table.left_out_hint}")
    for note in notes:
        for piece in wrap(note, width, indent="  "):
            plain(piece, "dim")
    return out


def print_table(table: TextTable, console: Console) -> None:
    """Print `table` fitted to the console (its terminal's width, COLUMNS, or no limit), in colour on a
    terminal and as plain text (cheaply: no per-cell styling) otherwise."""
    width = room(console)
    if console.is_terminal:
        for text in table_lines(table, width, styled=True):
            console.print(text, soft_wrap=True)
    else:
        console.file.write("\n".join(str(t) for t in table_lines(table, width)) + "\n")
