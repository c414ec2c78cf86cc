"""`cnnlab export onnx RUN`: the run's best checkpoint as an ONNX graph that takes the dataset's images
scaled to [0, 1] (N×C×H×W, before data.pad's padding) and gives the logits: the padding and the
normalization the run trained with are in the graph (cnnlab.models.raw_input). Exported with
torch.onnx.export(dynamo=True), then checked with onnxruntime against the torch model on a batch of
the run's test images; the file says its classes and run in its metadata."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cnnlab.export.errors import ExportError, writing
from cnnlab.util.extras import require
from cnnlab.util.files import atomic_path

CHECK_IMAGES = 256  # test images the export is checked on
TOLERANCE = 1e-4  # the largest |Δ logit| between onnxruntime and torch that passes


@dataclass(frozen=True)
class OnnxExport:
    path: Path
    opset: int
    images: int  # test images it was checked on
    max_delta: float  # the largest |Δ logit| against the torch model on them


def export_onnx(run: Path, out: Path, opset: int | None = None, dynamic_batch: bool = True) -> OnnxExport:
    """Write `run`'s best model to `out` (atomically) and check it; ExportError when the check fails."""
    require("onnx", "cnnlab export onnx")
    if not out.parent.is_dir():  # before the minutes of loading and exporting
        raise ExportError(f"--out {out}: folder {out.parent} does not exist")
    import torch

    from cnnlab.data.pipeline import Batches, load_data
    from cnnlab.models.raw_input import RawInput
    from cnnlab.run.saved_model import load_saved_model

    saved = load_saved_model(run, "best", "cpu")
    spec = saved.spec
    data = load_data(spec.data, spec.seed, torch.device("cpu"))
    graph = RawInput(saved.model, data.normalizer.mean, data.normalizer.std, spec.data.pad).eval()
    test = data.test.images[:CHECK_IMAGES]
    normalized, _ = next(Batches(data.test, data.normalizer, CHECK_IMAGES, channels_last=False).in_order())
    pad = spec.data.pad
    raw = (test[:, :, pad:test.shape[2] - pad, pad:test.shape[3] - pad] if pad else test).float() / 255
    example = raw[:2] if dynamic_batch else raw[:1]  # a dynamic batch is traced with two: one would be fixed
    dynamic = {"images": {0: torch.export.Dim("batch")}} if dynamic_batch else None
    with torch.no_grad():
        program = torch.onnx.export(graph, (example,), dynamo=True, input_names=["images"], output_names=["logits"],
                                    dynamic_shapes=dynamic, opset_version=opset, verbose=False)
        expected = saved.model(normalized).numpy()
    program.model.metadata_props.update({
        "cnnlab.run": run.name, "cnnlab.classes": json.dumps(list(saved.info.class_names)),
        "cnnlab.input": "N×C×H×W images scaled to [0, 1], before padding; padding and normalization in the graph"})
    with writing(f"--out {out}"), atomic_path(out) as tmp:
        program.save(str(tmp))
    images = raw if dynamic_batch else example
    delta = float(abs(run_onnx(out, images.numpy()) - expected[:len(images)]).max())
    if not delta <= TOLERANCE:
        raise ExportError(f"{out}: onnxruntime's logits differ from the run's model by up to {delta:.3g} (more than "
                          f"{TOLERANCE:g}) on {len(images)} test images; the file is kept for a look")
    return OnnxExport(out, program.model.opset_imports[""], len(images), delta)


def run_onnx(path: Path, images):
    """The graph at `path` on `images` (a float32 array N×C×H×W), with onnxruntime on the CPU."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images})[0]
