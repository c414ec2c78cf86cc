"""Reading one CSV file of images (the `csv` entry, cnnlab.data.csv_source) into uint8 images and labels.

numpy's own parser (`np.loadtxt`, in C) reads a good file; only when it fails is the file gone
through again line by line in Python, to name the first line that is wrong and how (its number of
values, a value that is not a number). Values are then checked all at once (cnnlab.data.file_checks),
and every message names the file's line and column, counted as an editor counts them: from 1,
the header and blank lines included.
"""

from __future__ import annotations

import gzip
import re
import zlib
from dataclasses import dataclass
from math import prod
from pathlib import Path

import numpy as np

from cnnlab.data import file_checks
from cnnlab.data.file_checks import Where
from cnnlab.data.source import DatasetCorruptError, DatasetError, reason
from cnnlab.registry import did_you_mean
from cnnlab.util.reading import NotReadable, checkpoint_bytes, read_bounded
from cnnlab.util.text import plural

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class CsvTable:
    images: np.ndarray  # uint8 N×C×H×W
    labels: np.ndarray  # int64 N, whole numbers >= 0 (their range is checked against the classes later)
    where_label: Where  # row → "FILE line L, column C (name)"


def read_csv(path: Path, image_shape: tuple[int, int, int], label: int | str) -> CsvTable:
    """The images and labels of every non-blank line; a first line that is not all numbers is the header."""
    numbered = [(n, line) for n, line in enumerate(text_lines(path), 1) if line.strip()]
    header = names(numbered[0][1]) if numbered and not all(is_number(f) for f in numbered[0][1].split(",")) else None
    width = prod(image_shape) + 1
    what = f"{width - 1} pixels of a {'×'.join(map(str, image_shape))} image and a label"
    if numbered and "," not in numbered[0][1]:  # another separator: no header to speak of
        raise DatasetCorruptError(f"{path} line {numbered[0][0]}: no commas; expected {width} values separated by "
                                  f"commas ({what})")
    if header is not None and len(header) != width:
        raise DatasetCorruptError(f"{path} line {numbered[0][0]}: the header names {len(header)} columns, expected "
                                  f"{width} ({what})")
    if header is not None:
        numbered = numbered[1:]
    column = label_column(label, header, width, path)
    if not numbered:
        raise DatasetCorruptError(f"{path}: no rows of values" + (" under its header" if header else ""))
    lines = np.array([n for n, _ in numbered])
    rows = [line for _, line in numbered]
    table = parse(rows)
    if table is None:
        raise first_bad_row(path, lines, rows, width, what, header)
    if table.shape[1] != width:  # every row alike, all of another width
        raise DatasetCorruptError(f"{path} line {lines[0]}: {plural(table.shape[1], 'value')}, expected {width} "
                                  f"({what})")

    def place(row: int, col: int) -> str:
        name = f" ({header[col]})" if header is not None else ""
        return f"{path} line {lines[row]}, column {col + 1}{name}"

    def where_pixel(i: int) -> str:
        row, col = divmod(i, width - 1)
        return place(row, col + (col >= column))

    pixels = file_checks.pixels(np.delete(table, column, axis=1), where_pixel)
    labels = file_checks.labels(table[:, column], lambda row: place(row, column))
    return CsvTable(pixels.reshape(len(table), *image_shape), labels, lambda row: place(row, column))


def parse(rows: list[str]) -> np.ndarray | None:
    """The rows as a table of numbers, or None if numpy cannot read them. As int16 first: every good
    file fits (pixels 0..255, labels), and numpy parses integers about 5× faster than floats; a file
    with `12.0` or `3.5` in it is read as float32, for the checks to accept or to name the value."""
    for dtype in (np.int16, np.float32):
        try:
            return np.loadtxt(rows, delimiter=",", dtype=dtype, comments=None, ndmin=2)
        except ValueError:
            continue
    return None


def text_lines(path: Path) -> list[str]:
    """The file's lines, unpacked first if it is gzip's; a file that cannot be read is one error."""
    try:
        data = read_bounded(path, checkpoint_bytes(), "dataset file")
        if data.startswith(GZIP_MAGIC):
            data = gzip.decompress(data)
        return data.decode("utf-8-sig").splitlines()
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as err:  # gzip's BadGzipFile is an OSError
        raise DatasetCorruptError(f"{path}: cannot read it as text ({reason(err)})") from None
    except NotReadable as err:  # not a regular file (it was swapped after the check), or beyond memory
        raise DatasetCorruptError(str(err)) from None


def is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def names(line: str) -> list[str]:
    return [name.strip().strip('"').strip() for name in line.split(",")]


def label_column(label: int | str, header: list[str] | None, width: int, path: Path) -> int:
    if label == "first":
        return 0
    if label == "last":
        return width - 1
    if isinstance(label, int):
        return label  # its range is checked with the options (cnnlab.data.csv_source)
    if header is None:
        raise DatasetError(f"data.dataset.label: {label!r} names a column, but {path} has no header line; "
                           f"use first, last or a column number")
    if label not in header:
        raise DatasetError(f"data.dataset.label: {path} has no column {label!r}{did_you_mean(label, header)}; "
                           f"its header starts {', '.join(header[:3])} ...")
    return header.index(label)


def comma_hint(line: str) -> str:
    """For a line of one field that other characters seem to separate (semicolons, tabs, spaces)."""
    return "; values are separated by commas" if "," not in line and re.search(r"[\s;|]", line.strip()) else ""


def first_bad_row(path: Path, lines: np.ndarray, rows: list[str], width: int, what: str,
                  header: list[str] | None) -> DatasetCorruptError:
    """The error for the first row numpy could not read: its number of values, or its first non-number."""
    for line, row in zip(lines, rows, strict=True):
        fields = row.split(",")
        if len(fields) != width:
            return DatasetCorruptError(f"{path} line {line}: {plural(len(fields), 'value')}, expected {width} "
                                       f"({what}){comma_hint(row)}")
        bad = next((i for i, field in enumerate(fields) if not is_number(field)), None)
        if bad is not None:
            name = f" ({header[bad]})" if header is not None else ""
            return DatasetCorruptError(f"{path} line {line}, column {bad + 1}{name}: {fields[bad].strip()!r} "
                                       f"is not a number")
    return DatasetCorruptError(f"{path}: cannot read it as rows of numbers separated by commas")
