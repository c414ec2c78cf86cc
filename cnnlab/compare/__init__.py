"""Runs side by side, from their files alone: load run directories through the typed records,
metrics and curves, grouping and seed aggregation, --where / --sort, rendering and plots; claims
checked with Welch's test, and the markdown report; per-layer diagnostics, their flags and the depth
plot of `cnnlab inspect`.

Torch-free (matplotlib only for plots). May import: cnnlab.rundir, cnnlab.spec (the claim grammar),
cnnlab.util, cnnlab.errors, cnnlab.registry.
"""
