"""`cnnlab.shape`: every layer's output shape, parameters, MACs and receptive field, as `cnnlab shape`
computes them (cnnlab.shape), as a DataFrame. Imports no torch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from cnnlab.api.frames import frame
from cnnlab.errors import UsageError
from cnnlab.shape.analysis import analyze
from cnnlab.shape.report import Titled, row_record


def shape(spec_or_layers: str | PathLike | Mapping[str, Any] | Sequence[str], *, input: str | None = None,
          overrides: Sequence[str] = (), run: int | None = None) -> Any:
    """One row per layer: layer, type, output (the shape, a tuple C, H, W), params, macs, the receptive
    field (rf_h, rf_w), its jump and centre, the share of the image a unit sees, and the formula behind
    the row.

    `spec_or_layers` is a spec file or a spec mapping (with `overrides` as --set takes them, and `run`
    to pick one run of a sweep), or ad-hoc layers with their `input`:
    shape(["conv:6,k5", "pool:max,k2"], input="1x32x32"). A sweep whose runs have different models
    gives each model's rows, told apart by a first column `model`."""
    if isinstance(spec_or_layers, (str, PathLike, Mapping)):
        if input is not None:
            raise UsageError("input= applies to ad-hoc layers; a spec's input follows from its data section")
        items = _spec(spec_or_layers, overrides, run)
    else:
        if overrides or run is not None:
            raise UsageError("overrides= and run= apply to a spec, not to ad-hoc layers")
        items = _layers(list(spec_or_layers), input)
    several = len(items) > 1
    return frame({**({"model": title} if several else {}), **row_record(row, analysis.image),
                  "output": tuple(row.out_shape)} for title, analysis in items for row in analysis.rows)


def _spec(spec: str | PathLike | Mapping[str, Any], overrides: Sequence[str], run: int | None) -> Titled:
    from cnnlab.shape.specs import experiment_analyses, spec_analyses
    from cnnlab.spec import Experiment

    if isinstance(spec, Mapping):
        return experiment_analyses(Experiment.of(dict(spec), list(overrides)), run)
    return spec_analyses(Path(spec), list(overrides), run)


def _layers(layers: list[str], input: str | None) -> Titled:
    from cnnlab.shape.adhoc import parse_input_shape, parse_layers

    if input is None:
        raise UsageError('ad-hoc layers need their input, e.g. shape(["conv:8,k3"], input="1x28x28")')
    if not layers or not all(isinstance(layer, str) for layer in layers):
        raise UsageError('give a spec file, a spec mapping, or layers as strings, e.g. ["conv:8,k3", "pool:max,k2"]')
    input_shape = parse_input_shape(input)
    return [(None, analyze(parse_layers(layers, input_shape), input_shape))]
