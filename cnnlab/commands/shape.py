"""`cnnlab shape`: output sizes, parameters, MACs and receptive fields, at once and without torch.

Three forms share the options --format and --explain:
  cnnlab shape EXP.yaml [--set KEY=VALUE ...] [--run N]      the model of a spec
  cnnlab shape --input 3x32x32 LAYER ...                      ad-hoc layers
  cnnlab shape --size 32 --kernel 5 [--stride 2 ...]          one window along one axis
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from cnnlab.adhoc_layers import KINDS, parse_input_shape, parse_layers
from cnnlab.errors import CnnlabError
from cnnlab.layers import Plan, Shape
from cnnlab.registry import did_you_mean
from cnnlab.shape_report import FORMATS, Titled, format_analyses, layer_table
from cnnlab.shapes import (
    CONV_FORMULA,
    POOL_CEIL_FORMULA,
    SOLVABLE,
    ShapeError,
    Window1D,
    analyze,
    effective_kernel,
    shape_text,
    solve_window,
    uncovered_pixels,
)

OUTPUT_FORMATS = ("table", *FORMATS)


class ShapeUsageError(CnnlabError):
    """Options of `cnnlab shape` that do not go together."""


# ---------------------------------------------------------------- form 1: a spec


@dataclass
class Architecture:
    """One distinct model among a spec's runs."""

    input_shape: Shape
    num_classes: int
    plan: Plan
    runs: list[int] = field(default_factory=list)


def spec_architectures(
    path: Path, overrides: list[str], run: int | None
) -> tuple[str, list, list[Architecture]]:
    """The spec's name, its runs, and its distinct (input shape, plan) pairs with the runs using each."""
    # Imported here: spec validation builds pydantic models, which the other two forms do not need.
    from cnnlab.data.registry import dataset_info
    from cnnlab.models.plan import build_plan
    from cnnlab.spec import expand_runs, load_spec

    spec = load_spec(path, overrides)
    runs = expand_runs(spec)
    chosen = range(len(runs))
    if run is not None:
        if not 0 <= run < len(runs):
            raise ShapeUsageError(
                f"--run {run}: the spec has {_plural(len(runs), 'run')}, numbered 0 to {len(runs) - 1}"
            )
        chosen = [run]
    found: list[Architecture] = []
    for i in chosen:
        info = dataset_info(runs[i].data)
        plan = build_plan(runs[i].model, info)
        same = next((a for a in found if a.plan == plan and a.input_shape == info.shape), None)
        if same is None:
            same = Architecture(info.shape, info.num_classes, plan)
            found.append(same)
        same.runs.append(i)
    return spec.name, runs, found


def _index_ranges(indices: list[int]) -> str:
    """[0, 1, 2, 5] → '0–2, 5'."""
    spans: list[list[int]] = []
    for i in indices:
        if spans and i == spans[-1][1] + 1:
            spans[-1][1] = i
        else:
            spans.append([i, i])
    return ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in spans)


def architecture_title(name: str, runs: list, arch: Architecture) -> str:
    title = f"{name}: model for {shape_text(arch.input_shape)} inputs, {arch.num_classes} classes"
    if len(runs) == 1:
        return title
    swept = [runs[i].swept for i in arch.runs]
    common = {k: v for k, v in swept[0].items() if all(s.get(k) == v for s in swept)}
    settings = "".join(f", {k}={v}" for k, v in common.items())
    which = f"run{'s' if len(arch.runs) > 1 else ''} {_index_ranges(arch.runs)} of {len(runs)}"
    return f"{title} ({which}{settings})"


def spec_analyses(path: Path, overrides: list[str], run: int | None) -> Titled:
    name, runs, archs = spec_architectures(path, overrides, run)
    return [(architecture_title(name, runs, a), analyze(a.plan, a.input_shape)) for a in archs]


# ---------------------------------------------------------------- form 3: one window along one axis


def parse_padding(text: str | None) -> int | str:
    if text is None:
        return 0
    if text in ("same", "valid"):
        return text
    if text.isdigit():
        return int(text)
    raise ShapeUsageError(f"--padding must be a whole number >= 0, 'same' or 'valid', got {text!r}")


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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def window_notes(record: dict) -> list[str]:
    """What no window sees: input pixels beyond the last window (a warning), padding only (a note),
    pixels between windows when the stride exceeds the window."""
    notes = []
    if record["uncovered"]:
        total, real = record["uncovered"], record["uncovered_input"]
        rest = record["size"] + record["padding_left"] + record["padding_right"] - record["window_span"]
        notes.append(
            f"{'warning' if real else 'note'}: in + 2p − d(k−1) − 1 = {rest} is not a multiple of the stride "
            f"{record['stride']}, so no window covers the last {_plural(total, 'pixel')} of the padded input "
            f"({real} input, {total - real} padding)"
        )
    skipped = record["skipped_between_windows"]
    if skipped:
        notes.append(
            f"note: the stride {record['stride']} is larger than the window "
            f"({_plural(record['window_span'], 'pixel')}), so {_plural(skipped, 'pixel')} between "
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
        f"  one output unit sees {_plural(record['window_span'], 'input pixel')}; "
        f"neighbouring units are {record['stride']} apart"
    )
    for note in window_notes(record):
        console.print(note)


def solve_records(unknown: str, want: int, size: int, window: Window1D) -> tuple[list[dict], bool]:
    solutions = solve_window(unknown, want, size, window)
    if not solutions.values:
        given = ", ".join(f"{k} {getattr(window, k)}" for k in ("kernel", "stride", "padding", "dilation")
                          if k != unknown)
        raise ShapeUsageError(f"no {unknown} turns an input of {size} into {want} outputs ({given})")
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
    lines = [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}"]
    lines += [f"| {' | '.join(str(r[k]) for k in header)} |" for r in records]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the command

EXAMPLES = f"""
Examples:

  cnnlab shape experiments/lenet5_mnist.yaml

  cnnlab shape experiments/quickstart.yaml --set model.conv[0].stride=2 --format markdown

  cnnlab shape --input 1x32x32 conv:6,k5 pool:max,k2 conv:16,k5 pool:max,k2 conv:120,k5 flatten fc:84 fc:10

  cnnlab shape --input 3x32x32 conv:16,k3,psame bn act:relu conv:32,k3,d2 gap fc:10 --explain

  cnnlab shape --size 32 --kernel 5 --stride 2 --padding 2

  cnnlab shape --size 32 --kernel 5 --solve padding --want 32

Layer syntax (sizes: a number or HxW; channels flowing in are taken from the layer before):

{chr(10).join(f"  {kind.usage}" for kind in KINDS.values())}
"""


def _not_with(form: str, **given: object) -> None:
    for option, value in given.items():
        if value not in (None, False, [], ()):
            raise ShapeUsageError(f"--{option.replace('_', '-')} does not apply to {form}")


CALC = "Single-layer calculator"


def shape(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[EXP.yaml | LAYER...]", show_default=False,
        help="A spec file, or with --input the layers (see the syntax above).",
    )] = None,
    input_shape: Annotated[str | None, typer.Option(
        "--input", "-i", metavar="CxHxW", rich_help_panel="Ad-hoc layers",
        help="Input of the ad-hoc layers, e.g. 3x32x32 (or 784 for a flat input).",
    )] = None,
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", "-s", metavar="KEY=VALUE", rich_help_panel="Spec",
        help="Override a spec key, e.g. --set model.conv[0].kernel_size=5 (repeatable).",
    )] = None,
    run: Annotated[int | None, typer.Option(
        "--run", metavar="N", rich_help_panel="Spec",
        help="Only run N of a sweep (numbered from 0, as in train --dry-run).",
    )] = None,
    size: Annotated[int | None, typer.Option(rich_help_panel=CALC, help="Input size along one axis.")] = None,
    kernel: Annotated[int | None, typer.Option("--kernel", "-k", rich_help_panel=CALC, help="Kernel size.")] \
        = None,
    stride: Annotated[int | None, typer.Option(rich_help_panel=CALC, help="Stride (1 if not given).")] = None,
    padding: Annotated[str | None, typer.Option(
        rich_help_panel=CALC, help="A number, 'same' or 'valid' (0 when left out).",
    )] = None,
    dilation: Annotated[int, typer.Option(rich_help_panel=CALC, help="Dilation.")] = 1,
    pool: Annotated[bool, typer.Option(
        "--pool", rich_help_panel=CALC, help="Pooling rules: padding <= kernel // 2, optional --ceil.",
    )] = False,
    ceil: Annotated[bool, typer.Option(
        "--ceil", rich_help_panel=CALC, help="Pooling with ceil_mode=True (implies --pool).",
    )] = False,
    solve: Annotated[str | None, typer.Option(
        metavar="padding|kernel|stride", rich_help_panel=CALC,
        help="Find every value of this setting that gives --want outputs.",
    )] = None,
    want: Annotated[int | None, typer.Option(
        metavar="N", rich_help_panel=CALC, help="The output size --solve aims for.",
    )] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"{' | '.join(OUTPUT_FORMATS)}")] = "table",
    explain: Annotated[bool, typer.Option("--explain", help="Show the formula behind each row.")] = False,
) -> None:
    """Output shape, params, MACs and receptive field of every layer, without importing torch.

    MACs are multiply-accumulates (FLOPs ≈ 2·MACs); the receptive field r and jump j are in input
    pixels, padding included.
    """
    if fmt not in OUTPUT_FORMATS:
        raise ShapeUsageError(
            f"--format {fmt!r} is not one of {', '.join(OUTPUT_FORMATS)}{did_you_mean(fmt, OUTPUT_FORMATS)}"
        )
    console = Console(highlight=False, soft_wrap=fmt != "table")
    calculator = dict(size=size, kernel=kernel, stride=stride, padding=padding, pool=pool, ceil=ceil,
                      solve=solve, want=want, dilation=None if dilation == 1 else dilation)
    if size is not None or solve is not None or want is not None:
        _not_with("the single-layer calculator (--size)", input=input_shape, set=overrides, run=run,
                  layers=targets)
        window = (kernel, stride, padding, dilation, pool or ceil, ceil)
        window_form(console, size, window, solve, want, fmt, explain)
        return
    if input_shape is not None:
        _not_with("ad-hoc layers (--input)", set=overrides, run=run, **calculator)
        if not targets:
            raise ShapeUsageError("--input needs layers after it, e.g. --input 1x28x28 conv:8,k3 pool:max,k2")
        shape_ = parse_input_shape(input_shape)
        items = [(None, analyze(parse_layers(targets, shape_), shape_))]
    else:
        _not_with("a spec file", **calculator)
        if not targets or len(targets) > 1:
            raise ShapeUsageError(
                "give one spec file, or --input CxHxW with layers, or --size for one window (see --help)"
            )
        items = spec_analyses(Path(targets[0]), overrides or [], run)
    emit(console, items, fmt, explain)


def window_form(console: Console, size: int | None, window: tuple, solve: str | None, want: int | None,
                fmt: str, explain: bool) -> None:
    """Form 3: one window along one axis, or the settings that give a wanted output size."""
    kernel, stride, padding, dilation, pool, ceil = window
    if size is None:
        raise ShapeUsageError("the single-layer calculator needs --size, the input size along one axis")
    for option, value in (("size", size), ("want", want)):
        if value is not None and value < 1:
            raise ShapeUsageError(f"--{option} must be >= 1, got {value}")
    if (solve is None) != (want is None):
        raise ShapeUsageError("--solve and --want go together, e.g. --solve padding --want 32")
    if solve is not None and solve not in SOLVABLE:
        raise ShapeUsageError(f"--solve must be one of {', '.join(SOLVABLE)}, got {solve!r}"
                              f"{did_you_mean(solve, SOLVABLE)}")
    given = {"kernel": kernel, "stride": stride, "padding": padding}
    if solve is not None and given[solve] is not None:
        raise ShapeUsageError(f"--solve {solve} finds the {solve}; leave out --{solve}")
    if kernel is None and solve != "kernel":
        raise ShapeUsageError("the single-layer calculator needs --kernel")
    # While solving, the unknown's own value is a placeholder that solve_window replaces.
    window = Window1D(1 if kernel is None else kernel, 1 if stride is None else stride, parse_padding(padding),
                      dilation, pool, ceil)
    try:
        if solve is None:
            records, open_ended = [window_record(size, window)], False
        else:
            records, open_ended = solve_records(solve, want, size, window)
    except ShapeError as err:
        raise ShapeUsageError(str(err)) from None
    if fmt != "table":
        sys.stdout.write(records_text(records, fmt))
    elif solve is None:
        print_window(console, records[0], explain)
    else:
        print_solutions(console, solve, records, open_ended, explain)


def emit(console: Console, items: Titled, fmt: str, explain: bool) -> None:
    if fmt == "table":
        for title, analysis in items:
            console.print(layer_table(analysis, title, explain, width=console.width))
    else:
        sys.stdout.write(format_analyses(items, fmt))


# The layer syntax in the help is generated from KINDS, so it is appended to the docstring here.
shape.__doc__ = inspect.cleandoc(shape.__doc__) + "\n" + EXAMPLES
