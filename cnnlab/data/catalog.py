"""Every dataset entry, registered: the built-in shapes, torchvision's datasets and image folders.

Import DATASETS from here (not from `source`, where the table is defined) to get it filled in.
Nothing here reads a file or imports torch.
"""

from __future__ import annotations

from cnnlab.data import imagefolder, shapes_source, torchvision_sources  # noqa: F401  (register their entries)
from cnnlab.data.source import DATASETS

__all__ = ["DATASETS"]
