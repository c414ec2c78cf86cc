"""Sweeps on a Ray cluster: `cnnlab train EXP.yaml --backend ray [--address auto|HOST:PORT]`.

Ray schedules, cnnlab does the rest as it does with `--jobs`: every run is one Ray task (with
--cpus-per-run CPUs and --gpus-per-run GPUs: cnnlab.run.ray_backend.tasks), and the task does what a
worker process does (cnnlab.run.jobs.run_job → execute_run: the claim, the run directory, the true
status: cnnlab.run.ray_backend.worker). The driver (cnnlab.run.ray_backend.scheduler) connects and
checks the cluster (cnnlab.run.ray_backend.cluster), submits the tasks, hears how each ended and
stops them as the stop policy says.

Where run directories are written: when every node sees --runs-dir (a shared filesystem; a probe
file tells, or --no-ship says so), the workers write there directly, and claims, heartbeats and
`cnnlab ls` work as on one machine. Otherwise (--ship, or the probe fails) each worker trains into a
temporary directory of its own and the finished run directory comes back through Ray's object store
to be placed under --runs-dir in one rename (cnnlab.run.ray_backend.ship); the driver then holds
each run's claim for the run, since the workers cannot take it where the runs are.

Stopping: a first SIGINT/SIGTERM (or fail-fast) cancels the tasks: those not started never start,
and a running one gets an interrupt in its worker (Ray's cancel), where cnnlab's signal handling
turns it into a stop after the current step with last.pt written and the run `interrupted` (a
shipped one is still shipped back). A second signal cancels them again, which stops them at once,
still marking their runs. A worker that dies (killed for memory, a node lost) has its run marked
failed; Ray never runs a task again.
"""
