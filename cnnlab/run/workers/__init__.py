"""`--jobs N`: the runs of a plan in N worker processes on this machine (cnnlab.run.workers.pool, the
parent's side; cnnlab.run.workers.worker, a worker's)."""
