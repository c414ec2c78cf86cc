"""The experiment spec: schema, loading, `--set` overrides, sweep expansion, the shards of a sweep
(`--shard I/N`) and error messages.

A spec is validated once, here, into typed objects; everything after trusts them. Every error a
user can make is one `SpecError` line that names the key path (`model.conv[1].stride: must be
>= 1, got 0`) and, for a misspelt key, the closest valid one.

Torch-free. May import: cnnlab.util, cnnlab.errors, cnnlab.rundir (the metric names claims may
use), cnnlab.registry (which finds the option tables of models/, data/ and train/ by kind, at
validation time).
"""

from cnnlab.spec.errors import SpecError, format_key
from cnnlab.spec.experiment import Experiment, RunSpec
from cnnlab.spec.load import load_experiment, load_spec, read_yaml
from cnnlab.spec.overrides import apply_override, parse_key, parse_override
from cnnlab.spec.resolve import resolve
from cnnlab.spec.schema import ConvSpec, DataSpec, DiagnosticsSpec, ModelSpec, PoolSpec, Spec, TrainSpec
from cnnlab.spec.sweep import expand_runs
from cnnlab.spec.types import Choice

__all__ = [
    "Choice", "ConvSpec", "DataSpec", "DiagnosticsSpec", "Experiment", "ModelSpec", "PoolSpec", "RunSpec", "Spec",
    "SpecError", "TrainSpec", "apply_override", "expand_runs", "format_key", "load_experiment", "load_spec",
    "parse_key", "parse_override", "read_yaml", "resolve",
]
