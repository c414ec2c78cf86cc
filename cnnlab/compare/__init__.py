"""Runs side by side, from their files alone: load run directories through the typed records,
metrics and curves, grouping and seed aggregation, --where / --sort, rendering and plots.

Torch-free (matplotlib only for plots). May import: cnnlab.rundir, cnnlab.util, cnnlab.errors,
cnnlab.registry.
"""
