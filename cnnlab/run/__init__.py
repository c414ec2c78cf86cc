"""Running `cnnlab train`: a typed request is planned, the plan is run by one scheduler, every run
goes through the one `execute_run`.

    request.TrainRequest ─plan.plan─▶ plan.Plan ─launch─▶ Scheduler.run(plan, policy.StopPolicy, reporter) ─▶ Tally
                                                           in_process │ workers │ ray_backend │ torchrun
                                                                      ▼
                                                  execute.execute_run(run): claim, open, train, true status

The planner reads only and imports no torch; the schedulers differ only in where the runs train and
how a running one is stopped; the stop policy, the ledger (tally) and the reporter are shared. Also
here: signals and the heartbeat, resuming a run directory, and `cnnlab eval` of a saved run.

Torch-side (torch is imported inside the functions that train). May import every other package.
"""
