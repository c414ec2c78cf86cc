"""Deferred imports: torch costs seconds to import, and `--help`, `shape` and `compare` need none of it.

Modules that hold registries refer to `nn`, `torch` ... through these proxies at top level; the real
import happens on first attribute access, i.e. only when a model is actually built or trained.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class LazyModule:
    """Stands in for a module until one of its attributes is first used."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str):
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


torch = LazyModule("torch")
nn = LazyModule("torch.nn")
F = LazyModule("torch.nn.functional")
init = LazyModule("torch.nn.init")
