"""cnnlab: a laboratory for convolutional networks, from the command line and from Python.

    runs = cnnlab.train("experiments/quickstart.yaml", overrides=["train.epochs=2"])
    table = cnnlab.load_runs("runs/quickstart")      # one row per run: a pandas DataFrame

train, load_runs, load_metrics, load_diagnostics, compare, shape, Run and CnnlabError are the API
(docs/python.md): the CLI's own code paths, returning typed objects and DataFrames. Each is imported
on first use, so `import cnnlab` is instant and imports neither torch nor pandas.
"""

import importlib
import sys
import types

__version__ = "0.1.0"

API = {  # public name → the module that defines it
    "train": "cnnlab.api.training",
    "Run": "cnnlab.api.runs",
    "load_runs": "cnnlab.api.tables",
    "load_metrics": "cnnlab.api.tables",
    "load_diagnostics": "cnnlab.api.tables",
    "compare": "cnnlab.api.tables",
    "shape": "cnnlab.api.shapes",
    "CnnlabError": "cnnlab.errors",
}
__all__ = sorted(API)


class Package(types.ModuleType):
    """The `cnnlab` module: the API's names resolved on first use. Three of them are also the names of
    subpackages (cnnlab.train, cnnlab.compare, cnnlab.shape), which the import system would bind
    here as each is imported: the API keeps those names (the subpackages stay importable by their
    dotted names: `from cnnlab.train import loop`)."""

    def __getattr__(self, name: str):
        if name not in API:
            raise AttributeError(f"module 'cnnlab' has no attribute {name!r}")
        value = getattr(importlib.import_module(API[name]), name)
        self.__dict__[name] = value
        return value

    def __setattr__(self, name: str, value) -> None:
        if name in API and isinstance(value, types.ModuleType):
            return  # a subpackage of the same name being imported: the name stays the API's
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *API})


sys.modules[__name__].__class__ = Package
