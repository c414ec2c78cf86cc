"""`cnnlab shape`: output sizes, parameters, MACs and receptive fields, at once and without torch.

Three forms share the options --format and --explain:
  cnnlab shape EXP.yaml [--set KEY=VALUE ...] [--run N]      the model of a spec
  cnnlab shape --input 3x32x32 LAYER ...                      ad-hoc layers
  cnnlab shape --size 32 --kernel 5 [--stride 2 ...]          one window along one axis
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from cnnlab.errors import UsageError
from cnnlab.shape.adhoc import KINDS

Format = Literal["table", "json", "csv", "markdown"]
CALC = "Single-layer calculator"

EPILOG = "\n".join([
    "[bold]Examples[/bold]",
    "cnnlab shape experiments/lenet5_mnist.yaml",
    "cnnlab shape experiments/quickstart.yaml --set model.conv[0].stride=2 --format markdown",
    "cnnlab shape --input 1x32x32 conv:6,k5 pool:max,k2 conv:16,k5 pool:max,k2 conv:120,k5 flatten fc:84 fc:10",
    "cnnlab shape --input 3x32x32 conv:16,k3,psame bn act:relu conv:32,k3,d2 gap fc:10 --explain",
    "cnnlab shape --size 32 --kernel 5 --stride 2 --padding 2",
    "cnnlab shape --size 32 --kernel 5 --solve padding --want 32",
    "\n[bold]Layer syntax[/bold] (sizes: a number or HxW; channels flowing in are taken from the layer before):",
    *(kind.usage.replace("[", "\\[") for kind in KINDS.values()),
])


def _not_with(form: str, **given: object) -> None:
    for option, value in given.items():
        if value not in (None, False, [], ()):
            raise UsageError(f"--{option.replace('_', '-')} does not apply to {form}")


def shape(
    targets: Annotated[list[str] | None, typer.Argument(
        metavar="[EXP.yaml | LAYER...]", show_default=False,
        help="A spec file, or with --input the layers (see the syntax below).",
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
    solve: Annotated[Literal["padding", "kernel", "stride"] | None, typer.Option(
        rich_help_panel=CALC, help="Find every value of this setting that gives --want outputs.",
    )] = None,
    want: Annotated[int | None, typer.Option(
        metavar="N", rich_help_panel=CALC, help="The output size --solve aims for.",
    )] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="How to print the result.")] = "table",
    explain: Annotated[bool, typer.Option("--explain", help="Show the formula behind each row.")] = False,
) -> None:
    """Output shape, params, MACs and receptive field of every layer, without importing torch.

    MACs are multiply-accumulates (FLOPs ≈ 2·MACs); the receptive field r and jump j are in input
    pixels, padding included.

    In a spec's model, a conv or linear layer directly followed by batch or instance norm has no bias
    (its row says "no bias"): the norm subtracts the channel mean, and its shift β takes the bias's
    place (Ioffe & Szegedy 2015). Before layer or group norm, or with norm_position: after, it keeps one.
    """
    from cnnlab.util.terminal import make_console

    console = make_console()
    calculator = dict(size=size, kernel=kernel, stride=stride, padding=padding, pool=pool, ceil=ceil,
                      solve=solve, want=want, dilation=None if dilation == 1 else dilation)
    if size is not None or solve is not None or want is not None:
        from cnnlab.shape.calculator import window_form

        _not_with("the single-layer calculator (--size)", input=input_shape, set=overrides, run=run,
                  layers=targets)
        window_form(console, size, (kernel, stride, padding, dilation, pool or ceil, ceil), solve, want, fmt,
                    explain)
        return
    from cnnlab.shape.analysis import analyze

    if input_shape is not None:
        from cnnlab.shape.adhoc import parse_input_shape, parse_layers

        _not_with("ad-hoc layers (--input)", set=overrides, run=run, **calculator)
        if not targets:
            raise UsageError("--input needs layers after it, e.g. --input 1x28x28 conv:8,k3 pool:max,k2")
        shape_ = parse_input_shape(input_shape)
        items = [(None, analyze(parse_layers(targets, shape_), shape_))]
    else:
        from cnnlab.shape.specs import spec_analyses

        _not_with("a spec file", **calculator)
        if not targets or len(targets) > 1:
            raise UsageError("give one spec file, or --input CxHxW with layers, or --size for one window (see --help)")
        items = spec_analyses(Path(targets[0]), overrides or [], run)
    from cnnlab.shape.advice import distinct, layer_warnings
    from cnnlab.shape.report import format_analyses, layer_table
    from cnnlab.util.table import print_table

    if fmt == "table":
        for i, (title, analysis) in enumerate(items):
            if i:
                console.print()
            print_table(layer_table(analysis, title, explain), console)
    else:
        sys.stdout.write(format_analyses(items, fmt))
    for text in distinct(w for _, analysis in items for w in layer_warnings(analysis)):
        typer.echo(f"warning: {text}", err=True)
