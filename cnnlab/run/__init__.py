"""One run's life and many runs': what `cnnlab train` does (pre-flight, skip what is done, resume
what stopped), one run from its claim to a true final status, SIGINT/SIGTERM handling, the heartbeat,
the parallel runner, runs across torchrun's processes, the Ray backend (and run directories shipped
back from Ray workers), and `cnnlab eval` of a saved run.

Torch-side (torch is imported inside the functions that train). May import every other package.
"""
