"""Training one run: device, seeding, kernel and memory-format setup, numeric precision, the engine
that computes a step (DistributedDataParallel, torch.compile), the processes of a torchrun job
working together (agreement, failures, synchronised batch norm), optimizers and schedules, the epoch
loop with its metrics, checkpoints (what an exact resume needs, loaded safely), the per-layer
diagnostics on a probe batch, and the progress reporters.

Torch-side. May import: cnnlab.data, cnnlab.models, cnnlab.shape, cnnlab.spec, cnnlab.rundir,
cnnlab.util, cnnlab.errors.
"""
