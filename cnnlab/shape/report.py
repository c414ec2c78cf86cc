"""An Analysis as a table for people, JSON, CSV or Markdown: one row per layer, totals per image.

`layer_table` is shared by `cnnlab shape` and `cnnlab train --dry-run`; `format_analyses` gives the
same rows as text for files and other programs. Nothing here imports torch.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable

from cnnlab.shape.adhoc import layer_syntax
from cnnlab.shape.analysis import Analysis, ReceptiveField, Row
from cnnlab.shape.layers import (
    Activation,
    Conv,
    ConvTranspose,
    Dropout,
    Flatten,
    GlobalAvgPool,
    Layer,
    Linear,
    Norm,
    Pair,
    Pool,
    Subsample,
    pair_text,
    shape_text,
)
from cnnlab.shape.rules import MACS_CONVENTION
from cnnlab.util.table import Column, Step, TextTable
from cnnlab.util.text import binary_size, markdown_table, si

FIELD_CONVENTION = (
    "receptive field r and jump j in input pixels (padding included); centre: where unit 0's field is "
    "centred; sees: share of the image inside one unit's field"
)


# ---------------------------------------------------------------- words for one layer


def _window_options(stride: Pair, padding: Pair | str, dilation: Pair, groups: int = 1) -> str:
    parts = []
    if stride != (1, 1):
        parts.append(f"s{pair_text(stride)}")
    if isinstance(padding, str):
        parts.append(f"p{padding}")
    elif padding != (0, 0):
        parts.append(f"p{pair_text(padding)}")
    if dilation != (1, 1):
        parts.append(f"d{pair_text(dilation)}")
    if groups != 1:
        parts.append(f"g{groups}")
    return "".join(f" {p}" for p in parts)


def _kernel(kernel: Pair) -> str:
    return f"{kernel[0]}×{kernel[1]}"


def _conv(layer: Conv) -> str:
    options = _window_options(layer.stride, layer.padding, layer.dilation, layer.groups)
    text = f"conv {_kernel(layer.kernel_size)}{options} → {layer.out_channels}"
    if layer.connections is not None:
        used = sum(len(inputs) for inputs in layer.connections)
        text += f", {used} of {layer.in_channels * layer.out_channels} connections"
    return text + ("" if layer.bias else ", no bias")


def _conv_transpose(layer: ConvTranspose) -> str:
    options = _window_options(layer.stride, layer.padding, layer.dilation, layer.groups)
    if layer.output_padding != (0, 0):
        options += f" op{pair_text(layer.output_padding)}"
    return f"transposed conv {_kernel(layer.kernel_size)}{options} → {layer.out_channels}"


def _pool(layer: Pool) -> str:
    options = _window_options(layer.stride, layer.padding, layer.dilation)
    return f"{layer.kind} pool {_kernel(layer.kernel_size)}{options}{' ceil' if layer.ceil_mode else ''}"


def _subsample(layer: Subsample) -> str:
    options = _window_options(layer.stride, layer.padding, (1, 1))
    return f"subsample {_kernel(layer.kernel_size)}{options}{' ceil' if layer.ceil_mode else ''} (sum·w+b)"


DESCRIPTIONS: dict[type, Callable[[Layer], str]] = {
    Conv: _conv,
    ConvTranspose: _conv_transpose,
    Pool: _pool,
    Subsample: _subsample,
    GlobalAvgPool: lambda layer: "global avg pool",
    Flatten: lambda layer: "flatten",
    Linear: lambda layer: f"linear {layer.in_features} → {layer.out_features}{'' if layer.bias else ', no bias'}",
    Norm: lambda layer: f"{layer.kind} norm{'' if layer.affine else ' (no affine)'}",
    Activation: lambda layer: layer.kind,
    Dropout: lambda layer: f"dropout {layer.p:g}",
}


def describe(layer: Layer) -> str:
    """A short human description: 'conv 5×5 s2 p2 → 16', 'max pool 2×2 s2', 'linear 120 → 84'."""
    return DESCRIPTIONS[type(layer)](layer)


# ---------------------------------------------------------------- numbers


def _number_pair(values: tuple[float, float]) -> str:
    a, b = (f"{v:g}" for v in values)
    return a if a == b else f"{a}, {b}"


def field_texts(field: ReceptiveField | None, image: Pair | None) -> dict[str, str]:
    """The receptive-field cells of one row: rf, jump, centre, sees."""
    if field is None:
        return dict.fromkeys(("rf", "jump", "centre", "sees"), "—")
    size = f"{field.size[0]}×{field.size[1]}"
    if field.whole_input:
        return {"rf": f"all ({size})", "jump": "—", "centre": "—", "sees": f"{1:.1%}"}
    return {
        "rf": size,
        "jump": pair_text(field.jump),
        "centre": _number_pair(field.center),
        "sees": f"{field.fraction(image):.1%}",
    }


def totals_line(analysis: Analysis) -> str:
    return (
        f"total: {analysis.params:,} params ({si(analysis.params)}), "
        f"{analysis.macs:,} MACs ({si(analysis.macs)}), activations "
        f"{analysis.activation_elements:,} values = {binary_size(analysis.activation_bytes)} "
        "per image (float32)"
    )


# ---------------------------------------------------------------- the table for people

DISPLAY_COLUMNS = ("layer", "type", "output", "params", "MACs", "RF", "jump", "centre", "sees")
# How a table too wide for its terminal narrows, step by step: the least needed columns go first; the
# layer descriptions switch to the layer syntax of `cnnlab shape --input` (one line, never wrapped).
NARROWING: tuple[Step, ...] = (
    ("drop", "sees"), ("drop", "centre"), ("drop", "jump"), ("compact", "type"), ("compact", "RF"),
    ("drop", "MACs"), ("drop", "RF"),
)
COLUMN_NOTES = {
    "RF": "RF: receptive field r in input pixels (padding included)",
    "jump": "jump j: input pixels between neighbouring units",
    "centre": "centre: where unit 0's field is centred",
    "sees": "sees: share of the image inside one unit's field",
}


def display_cells(row: Row, image: Pair | None) -> list[str]:
    """The DISPLAY_COLUMNS of one row as text (table and Markdown)."""
    cells = field_texts(row.field, image)
    return [
        row.name, describe(row.layer), shape_text(row.out_shape), f"{row.params:,}", f"{row.macs:,}",
        cells["rf"], cells["jump"], cells["centre"], cells["sees"],
    ]


def layer_table(analysis: Analysis, title: str | None = None, explain: bool = False) -> TextTable:
    """One row per layer (output, params, MACs, receptive field), a totals footer and the conventions;
    with `explain`, each row's formula beneath it. Printed with `cnnlab.util.table.print_table`, it
    fits the terminal by the NARROWING steps and never cuts a number."""
    rows = [display_cells(row, analysis.image) for row in analysis.rows]
    footers = {"layer": "total", "output": binary_size(analysis.activation_bytes), "params": f"{analysis.params:,}",
               "MACs": si(analysis.macs)}
    compact = {
        "type": [layer_syntax(row.layer) or describe(row.layer) for row in analysis.rows],
        "RF": ["all" if row.field is not None and row.field.whole_input else cells[5]
               for row, cells in zip(analysis.rows, rows, strict=True)],
    }
    compact_notes = {"type": "type: in the layer syntax of cnnlab shape --input (see cnnlab shape --help)",
                     "RF": "RF all: the whole input"}
    columns = [
        Column(header, [cells[i] for cells in rows], align="left" if header in ("layer", "type") else "right",
               footer=footers.get(header, ""), compact=compact.get(header), note=COLUMN_NOTES.get(header, ""),
               compact_note=compact_notes.get(header, ""))
        for i, header in enumerate(DISPLAY_COLUMNS)
    ]
    under = [list(row.formulas) for row in analysis.rows] if explain else []
    return TextTable(
        columns,
        title=title or f"input {shape_text(analysis.input_shape)}",
        notes=[f"{totals_line(analysis)}.", f"{MACS_CONVENTION}."],
        narrowing=NARROWING,
        under=under,
        left_out_hint=" (--format csv has every column)",
    )


# ---------------------------------------------------------------- text formats


def row_record(row: Row, image: Pair | None) -> dict:
    """One layer as a flat record (the CSV columns; JSON adds the shapes as lists)."""
    field = row.field
    spatial = field is not None and not field.whole_input
    return {
        "layer": row.name,
        "type": describe(row.layer),
        "output": shape_text(row.out_shape),
        "params": row.params,
        "macs": row.macs,
        "rf_h": field.size[0] if field else None,
        "rf_w": field.size[1] if field else None,
        "jump_h": field.jump[0] if spatial else None,
        "jump_w": field.jump[1] if spatial else None,
        "first_h": field.first[0] if spatial else None,
        "first_w": field.first[1] if spatial else None,
        "centre_h": field.center[0] if spatial else None,
        "centre_w": field.center[1] if spatial else None,
        "whole_input": field.whole_input if field else None,
        "sees": round(field.fraction(image), 6) if field else None,
        "formula": "; ".join(row.formulas),
    }


def totals_record(analysis: Analysis) -> dict:
    return {
        "params": analysis.params,
        "macs": analysis.macs,
        "activation_elements": analysis.activation_elements,
        "activation_bytes_float32": analysis.activation_bytes,
    }


def analysis_document(analysis: Analysis, title: str | None = None) -> dict:
    """The JSON form: input, one record per layer (shapes as lists), totals and conventions."""
    layers = [{**row_record(row, analysis.image), "output": list(row.out_shape)} for row in analysis.rows]
    document = {"title": title} if title else {}
    return {
        **document,
        "input": list(analysis.input_shape),
        "layers": layers,
        "totals": totals_record(analysis),
        "conventions": f"{MACS_CONVENTION}; {FIELD_CONVENTION}",
    }


Titled = list[tuple[str | None, Analysis]]


def _json(items: Titled) -> str:
    documents = [analysis_document(analysis, title) for title, analysis in items]
    return json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, ensure_ascii=False)


def _csv(items: Titled) -> str:
    """One header; with several analyses a first column `model` says which each row belongs to."""
    several = len(items) > 1
    records = [
        {**({"model": title} if several else {}), **row_record(row, analysis.image)}
        for title, analysis in items
        for row in analysis.rows
    ]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]) if records else ["layer"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def _markdown_one(analysis: Analysis) -> str:
    rows = [[*display_cells(row, analysis.image), "; ".join(row.formulas)] for row in analysis.rows]
    right = [header in ("output", "params", "MACs", "RF", "jump", "centre", "sees") for header in DISPLAY_COLUMNS]
    table = markdown_table([*DISPLAY_COLUMNS, "formula"], rows, [*right, False])
    return f"{table}\nInput {shape_text(analysis.input_shape)}; {totals_line(analysis)}.\n"


def _markdown(items: Titled) -> str:
    sections = [(f"### {title}\n\n" if title else "") + _markdown_one(analysis) for title, analysis in items]
    return "\n".join(sections) + f"\n{MACS_CONVENTION}. {FIELD_CONVENTION}.\n"


FORMATS: dict[str, Callable[[Titled], str]] = {"json": _json, "csv": _csv, "markdown": _markdown}
"""Text formats of analyses; the command adds 'table' (Rich) to these."""


def format_analyses(items: Titled, fmt: str) -> str:
    """Several (title, analysis) pairs as one 'json', 'csv' or 'markdown' text."""
    return FORMATS[fmt](items)
