"""The optional dependencies some features need, as pip extras (pyproject.toml): a feature asks for
its extra before importing it, and a missing one is one line naming the `pip install` that brings it."""

from __future__ import annotations

import importlib.util

from cnnlab.errors import CnnlabError

EXTRAS: dict[str, tuple[str, ...]] = {  # extra → the modules it installs that cnnlab imports
    "tensorboard": ("tensorboard",),
    "mlflow": ("mlflow", "sqlalchemy", "alembic"),
    "onnx": ("onnx", "onnxscript", "onnxruntime"),
}


class MissingExtra(CnnlabError):
    """A feature whose optional dependency is not installed."""


def require(extra: str, feature: str) -> None:
    """Nothing when every module of `extra` can be imported; otherwise MissingExtra naming `feature`,
    the missing module and the pip install."""
    for module in EXTRAS[extra]:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(f"{feature} needs {module}, which is not installed: pip install 'cnnlab[{extra}]'")
