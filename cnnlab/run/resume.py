"""`cnnlab train --resume RUN [--set KEY=VALUE]`: which spec continues a run, and which runs cannot be
continued. Torch-free: every refusal is one line before anything is loaded.

A run continues with the spec it ran with (its spec.yaml). `--set` may change only what does not
change the result (cnnlab.spec.identity.RESULT_NEUTRAL: where the data are, the device, the
threads); anything else would make the continued run a different experiment, so it is refused,
naming the key. Completed and diverged runs are refused too (there is nothing to continue, or it
would diverge again), and so is a run that is still running.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.run.saved import RunError, is_run_dir, not_a_run, read_run_meta, read_run_spec
from cnnlab.rundir.liveness import observed_status
from cnnlab.spec import RunSpec, apply_override, parse_override, resolve
from cnnlab.spec.identity import RESULT_NEUTRAL, result_differences


def resume_spec(run: Path, overrides: list[str]) -> RunSpec:
    """The spec that continues run directory `run`; RunError (one line) when it cannot be continued."""
    if not is_run_dir(run):
        raise not_a_run(run)
    meta = read_run_meta(run)
    status = observed_status(meta)
    if status == "completed":
        raise RunError(f"{run}: completed; there is nothing to resume (to train it again, train its spec "
                       f"with --force)")
    if status == "diverged":
        raise RunError(f"{run}: diverged; resuming would diverge again: change the spec (a lower learning rate, "
                       f"a normalization layer) and train it as a new run")
    if status == "running":
        raise RunError(f"{run}: still running (pid {meta.pid} on {meta.host}); stop it first, then resume it")
    recorded = read_run_spec(run)
    raw = recorded
    for item in overrides:
        raw = apply_override(raw, *parse_override(item))
    spec = resolve(raw)
    changed = result_differences(recorded, spec.resolved())
    if changed:
        given = {parse_override(item)[0] for item in overrides}

        def set_by_user(key: str) -> bool:
            return key in given or any(key.startswith(g + ".") for g in given)

        key = next((k for k in changed if set_by_user(k)), changed[0])
        source = "--set changes it" if set_by_user(key) else \
            "this cnnlab resolves the run's spec.yaml differently (train it anew with this version)"
        raise RunError(f"{key}: {source}, which changes the result, so {run} cannot continue with it; a resume "
                       f"may change only {', '.join(RESULT_NEUTRAL)}")
    return RunSpec(spec, dict(meta.swept))
