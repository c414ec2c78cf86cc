"""The run directory, the contract between the trainer that writes it and every command that reads
it: typed records (meta.json, summary.json, metrics.csv and diagnostics.csv rows, sweep.yaml), run
ids, a store that creates a directory exclusively and writes each file atomically, the exclusive
claim on a run, and whether a `running` run is alive (stale otherwise).

Torch-free. May import: cnnlab.util, cnnlab.errors.
"""
