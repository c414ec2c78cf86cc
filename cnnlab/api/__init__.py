"""The Python API behind `cnnlab.train`, `cnnlab.load_runs` ... (docs/python.md): the commands' own
code paths (the planner and schedulers of cnnlab.run, the loaders of cnnlab.compare and
cnnlab.rundir, the layer arithmetic of cnnlab.shape), returning typed objects and pandas DataFrames
instead of printing. Mistakes raise the CnnlabError the command would print as its `error:` line.

Torch-free: torch only inside `train` and `Run.load_model`, pandas on first use. May import:
cnnlab.compare, cnnlab.rundir, cnnlab.shape, cnnlab.spec, cnnlab.util, cnnlab.errors; cnnlab.run and
cnnlab.data inside functions only.
"""
