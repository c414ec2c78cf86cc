"""A saved run directory as the input of a command (`eval`, `train --resume`): its spec and meta,
read back through the same types that wrote them, every problem one line. Torch-free."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from cnnlab.errors import CnnlabError
from cnnlab.rundir.records import RecordError, RunMeta, read_json_record, read_text
from cnnlab.spec import Spec
from cnnlab.spec.errors import format_validation_error
from cnnlab.util.yamlio import YamlError, load_yaml


class RunError(CnnlabError):
    """A run directory that cannot be used as asked."""


def is_run_dir(path: Path) -> bool:
    return path.is_dir() and ((path / "spec.yaml").is_file() or (path / "meta.json").is_file())


def not_a_run(run: Path) -> RunError:
    """'not a run directory', listing the runs inside when `run` is an experiment folder."""
    inside = sorted(p.parent.name for p in run.glob("*/spec.yaml")) if run.is_dir() else []
    if inside:
        shown = ", ".join(inside[-5:]) + (f" (and {len(inside) - 5} more)" if len(inside) > 5 else "")
        return RunError(f"{run}: an experiment folder, not a run; name one of its runs: {shown}")
    return RunError(f"{run}: {'not a run directory (no spec.yaml)' if run.exists() else 'no such directory'}")


def read_run_spec(run: Path) -> dict:
    """The run's spec.yaml as plain data (the resolved spec it ran with)."""
    path = run / "spec.yaml"
    if not path.is_file():
        raise not_a_run(run)
    try:
        data = load_yaml(read_text(path))
    except (RecordError, YamlError) as err:
        raise RunError(f"{path}: unreadable ({err})") from None
    if not isinstance(data, dict):
        raise RunError(f"{path}: not a spec (expected a mapping)")
    return data


def validate_run_spec(run: Path, data: dict) -> Spec:
    try:
        return Spec.model_validate(data)
    except ValidationError as err:
        problem = format_validation_error(err)
        raise RunError(f"{run / 'spec.yaml'}: not a spec this cnnlab can use ({problem})") from None


def read_run_meta(run: Path) -> RunMeta:
    try:
        return read_json_record(run / "meta.json", RunMeta)
    except RecordError as err:
        raise RunError(str(err)) from None
