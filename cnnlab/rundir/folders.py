"""The folders of a runs directory (runs/<name>, runs/.claims), resolved, and refused when a link
leads them out of it: cnnlab writes nothing outside the runs directory. Plain Python (the claim,
which a Windows-like test imports alone, needs it)."""

from __future__ import annotations

from pathlib import Path

from cnnlab.errors import CnnlabError


class RunDirError(CnnlabError):
    """A runs directory that cannot be used."""


def experiment_dir(runs_dir: Path, name: str) -> Path:
    """runs/<name>, resolved; refused when it leads out of the runs directory (a symlink), before
    anything is written there."""
    root = Path(runs_dir).resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise RunDirError(f"{Path(runs_dir) / name} leads to {path}, outside the runs directory {root}; "
                          f"cnnlab writes runs only inside it: remove the link or choose another --runs-dir")
    return path
