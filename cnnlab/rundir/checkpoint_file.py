"""Whether a run's last.pt is whole, told without torch (the planner of `--resume` imports none) and
without unpickling anything: a PyTorch checkpoint is a zip archive whose members carry CRC-32
checksums, one of them the pickle `data.pkl`. A damaged file is refused before the run is reopened,
so that the run keeps its status and can still be resumed from a good copy."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

from cnnlab.rundir.records import RecordError
from cnnlab.util.reading import NotReadable, checkpoint_bytes, open_bounded

LAST = "checkpoints/last.pt"  # what a resume continues from, relative to the run directory
REMEDY = "replace it with a good copy, or delete it to train the run from its start"


def check_last(run_dir: Path) -> None:
    """RecordError (one line naming the file) when the run's last.pt exists but is not a whole checkpoint."""
    path = Path(run_dir) / LAST
    try:
        with open_bounded(path, checkpoint_bytes(), "checkpoint") as file, zipfile.ZipFile(file) as archive:
            if not any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist()):
                raise RecordError(path, f"not a readable checkpoint (not a PyTorch checkpoint); {REMEDY}")
            if (bad := archive.testzip()) is not None:
                raise RecordError(path, f"not a readable checkpoint (damaged: {bad} fails its checksum); {REMEDY}")
    except FileNotFoundError:
        return  # stopped before its first checkpoint: the resume starts from the beginning
    except NotReadable as err:
        raise RecordError(path, f"{err.reason}; {REMEDY}") from None
    except (zipfile.BadZipFile, EOFError, zlib.error, ValueError) as err:
        detail = "empty" if path.stat().st_size == 0 else "truncated or damaged"
        raise RecordError(path, f"not a readable checkpoint ({detail}: {err}); {REMEDY}") from None
    except OSError as err:
        raise RecordError(path, f"cannot be read ({err.strerror or type(err).__name__}); {REMEDY}") from None
