"""The single-layer calculator of `cnnlab shape --size`: one window's output size with its formula
filled in, what its windows leave uncovered, and every setting that gives a wanted size; printed
for people or as json / csv / markdown records."""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import replace

from rich.console import Console

from cnnlab.errors import UsageError
from cnnlab.shape.axis import effective_kernel, uncovered_pixels
from cnnlab.shape.layers import ShapeError
from cnnlab.shape.window import CONV_FORMULA, POOL_CEIL_FORMULA, Window1D, solve_window
from cnnlab.util.text import markdown_table, plural


def parse_padding(text: str | None) -> int | str:
    if text is None:
        return 0
    if text in ("same", "valid"):
        return text
    if text.isdigit():
        return int(text)
    raise UsageError(f"--padding must be a whole number >= 0, 'same' or 'valid', got {text!r}")


def window_record(size: int, window: Window1D) -> dict:
    """Output size, the filled-in formula, and what the windows leave uncovered."""
    out = window.output(size)
    pads = window.padding_pair()
    uncovered, uncovered_input = uncovered_pixels(
        size, out.size, window.kernel, window.stride, pads, window.dilation
    )
    span = effective_kernel(window.kernel, window.dilation)
    return {
        "size": size, "kernel": window.kernel, "stride": window.stride, "padding": window.padding,
        "padding_left": pads[0], "padding_right": pads[1], "dilation": window.dilation,
        "pool": window.pool, "ceil_mode": window.ceil_mode, "output": out.size, "formula": out.formula,
        "window_span": span, "uncovered": uncovered, "uncovered_input": uncovered_input,
        "skipped_between_windows": max(0, window.stride - span) if out.size > 1 else 0,
    }


def window_notes(record: dict) -> list[str]:
    """What no window sees: input pixels beyond the last window (a warning), padding only (a note),
    pixels between windows when the stride exceeds the window."""
    notes = []
    if record["uncovered"]:
        total, real = record["uncovered"], record["uncovered_input"]
        rest = record["size"] + record["padding_left"] + record["padding_right"] - record["window_span"]
        notes.append(
            f"{'warning' if real else 'note'}: in + 2p − d(k−1) − 1 = {rest} is not a multiple of the stride "
            f"{record['stride']}, so no window covers the last {plural(total, 'pixel')} of the padded input "
            f"({real} input, {total - real} padding)"
        )
    skipped = record["skipped_between_windows"]
    if skipped:
        notes.append(
            f"note: the stride {record['stride']} is larger than the window "
            f"({plural(record['window_span'], 'pixel')}), so {plural(skipped, 'pixel')} between "
            "neighbouring windows are never seen"
        )
    return notes


def print_window(console: Console, record: dict, explain: bool) -> None:
    formula = POOL_CEIL_FORMULA if record["ceil_mode"] else CONV_FORMULA
    what = "pooling window" if record["pool"] else "convolution"
    console.print(f"{what} along one axis: {formula}")
    if explain:
        console.print("  in: input size, p: padding per side, d: dilation, k: kernel size, s: stride; "
                      "⌊⌋ rounds down, ⌈⌉ up")
    console.print(f"  out = {record['formula']}")
    console.print(
        f"  one output unit sees {plural(record['window_span'], 'input pixel')}; "
        f"neighbouring units are {record['stride']} apart"
    )
    for note in window_notes(record):
        console.print(note)


def solve_records(unknown: str, want: int, size: int, window: Window1D) -> tuple[list[dict], bool]:
    solutions = solve_window(unknown, want, size, window)
    if not solutions.values:
        given = ", ".join(f"{k} {getattr(window, k)}" for k in ("kernel", "stride", "padding", "dilation")
                          if k != unknown)
        raise UsageError(f"no {unknown} turns an input of {size} into {want} outputs ({given})")
    records = [window_record(size, replace(window, **{unknown: v})) for v in solutions.values]
    return records, solutions.open_ended


def print_solutions(
    console: Console, unknown: str, records: list[dict], open_ended: bool, explain: bool
) -> None:
    console.print(f"{unknown} giving {records[0]['output']} outputs from an input of {records[0]['size']}:")
    for record in records:
        clean = "" if record["uncovered"] else "  (covers every pixel)"
        console.print(f"  {unknown} {record[unknown]}: out = {record['formula']}{clean}")
        if explain:
            for note in window_notes(record):
                console.print(f"    {note}")
    if open_ended:
        console.print(f"  and every larger {unknown} (each leaves a single window)")


def records_text(records: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(records[0] if len(records) == 1 else records, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return out.getvalue()
    header = list(records[0])
    return markdown_table(header, [[r[k] for k in header] for r in records])


def window_form(console: Console, size: int | None, window: tuple, solve: str | None, want: int | None,
                fmt: str, explain: bool) -> None:
    """Form 3: one window along one axis, or the settings that give a wanted output size."""
    kernel, stride, padding, dilation, pool, ceil = window
    if size is None:
        raise UsageError("the single-layer calculator needs --size, the input size along one axis")
    for option, value in (("size", size), ("want", want)):
        if value is not None and value < 1:
            raise UsageError(f"--{option} must be >= 1, got {value}")
    if (solve is None) != (want is None):
        raise UsageError("--solve and --want go together, e.g. --solve padding --want 32")
    given = {"kernel": kernel, "stride": stride, "padding": padding}
    if solve is not None and given[solve] is not None:
        raise UsageError(f"--solve {solve} finds the {solve}; leave out --{solve}")
    if kernel is None and solve != "kernel":
        raise UsageError("the single-layer calculator needs --kernel")
    # While solving, the unknown's own value is a placeholder that solve_window replaces.
    window = Window1D(1 if kernel is None else kernel, 1 if stride is None else stride, parse_padding(padding),
                      dilation, pool, ceil)
    try:
        if solve is None:
            records, open_ended = [window_record(size, window)], False
        else:
            records, open_ended = solve_records(solve, want, size, window)
    except ShapeError as err:
        raise UsageError(str(err)) from None
    if fmt != "table":
        sys.stdout.write(records_text(records, fmt))
    elif solve is None:
        print_window(console, records[0], explain)
    else:
        print_solutions(console, solve, records, open_ended, explain)
