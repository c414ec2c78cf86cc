"""Every dataset entry, registered: the built-in shapes, torchvision's datasets, image folders, and
CSV and NPZ files.

Import DATASETS from here (not from `source`, where the table is defined) to get it filled in.
Nothing here reads a file or imports torch.
"""

from __future__ import annotations

from cnnlab.data import (  # noqa: F401  (register their entries)
    csv_source,
    imagefolder,
    npz_source,
    shapes_source,
    torchvision_sources,
)
from cnnlab.data.source import DATASETS

__all__ = ["DATASETS"]
