"""A saved run's model: its own spec.yaml rebuilt into the nn.Module it trained, with a checkpoint's
weights (loaded with weights_only=True: cnnlab.train.checkpoint). What `cnnlab eval`, `cnnlab export
onnx` and cnnlab.Run.load_model() start from. Reads no image: the model's input is known from the
spec (cnnlab.data.resolve)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from cnnlab.data.resolve import dataset_info
from cnnlab.data.source import DatasetInfo
from cnnlab.models.builder import build_model
from cnnlab.run.saved import RunError, read_run_spec, validate_run_spec
from cnnlab.shape.layers import Plan
from cnnlab.shape.plan import build_plan
from cnnlab.spec import Spec
from cnnlab.train import checkpoint as checkpoints

CHECKPOINTS = ("best", "last")  # checkpoints/best.pt and last.pt


@dataclass(frozen=True)
class SavedModel:
    model: torch.nn.Module  # in eval mode, on the device asked for
    spec: Spec  # the run's resolved spec
    plan: Plan  # its layers
    info: DatasetInfo  # the input it takes (after resizing and padding) and its classes
    epoch: int  # epochs completed when the checkpoint was written


def load_saved_model(run: Path, checkpoint: str = "best", device: torch.device | str = "cpu") -> SavedModel:
    """The model of run directory `run` with the weights of checkpoints/<checkpoint>.pt; RunError or
    CheckpointError (one line) when the run or its checkpoint cannot be used."""
    if checkpoint not in CHECKPOINTS:
        raise RunError(f"checkpoint {checkpoint!r}: choose one of {', '.join(CHECKPOINTS)}")
    spec = validate_run_spec(run, read_run_spec(run))
    path = run / "checkpoints" / f"{checkpoint}.pt"
    if not path.exists():
        raise RunError(f"{path}: no such checkpoint (the run may have failed before its first epoch)")
    state: dict[str, Any] = checkpoints.load(path, device)  # before the model: a bad file is reported at once
    info = dataset_info(spec.data)
    plan = build_plan(spec.model, info)
    model = build_model(plan).to(device)
    checkpoints.load_weights(model, state, path)
    return SavedModel(model.eval(), spec, plan, info, int(state["epoch"]))
