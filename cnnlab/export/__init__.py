"""Runs into the tools people already use: TensorBoard event files (with the HParams plugin's
sessions), an MLflow tracking store, and a run's model as ONNX. `cnnlab export` (cnnlab.commands.export)
calls them; each asks for its pip extra first (cnnlab.util.extras), so a missing one is one line.
The events themselves (events.py) are shared with the training loop's TensorBoard stream.

Torch-free at import (the ONNX exporter imports torch when it runs). May import: cnnlab.compare,
cnnlab.rundir, cnnlab.spec, cnnlab.util, cnnlab.errors; cnnlab.run, cnnlab.data and cnnlab.models
inside functions only (the ONNX exporter: a run's model and data).
"""
