"""An exclusive claim on one run, so that two cnnlab processes never train the same run at once
(two `cnnlab train` of one spec started together, a resume while the run still trains, two hosts of
a cluster given overlapping work).

A claim is an flock on `runs/.claims/<key>.lock`, taken without waiting by the process that is about
to create or resume the run and held until the run ends. The kernel drops it when that process
exits, however it exits (SIGKILL included), so a claim is never left behind; a holder that ends
normally also removes the file. The key is the run's identity (cnnlab.spec.identity.identity_key):
the same run whatever directory it is in. Whoever starts runs (the sequential loop, a parallel
worker, a Ray task) takes the claim through `execute_run`, never around it; only where a Ray worker
trains into a directory of its own, to be shipped back, does the process that places the run take
it (cnnlab.run.ray_backend), since the worker cannot reach the runs directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import platform
from pathlib import Path

CLAIMS_DIR = ".claims"  # inside the runs directory; hidden, so that `compare` never walks it
ATTEMPTS = 10  # a lock file removed by its holder just as another process locked it: open it again


class ClaimHeld(Exception):
    """Another process holds the claim; `holder` names it (`pid 4242 on node-3`)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class RunClaim:
    """A held claim; release it (or leave the `with` block) when the run has ended."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, runs_dir: Path, key: str) -> RunClaim:
        """Take the claim on run `key` among the runs under `runs_dir`; ClaimHeld if it is taken."""
        folder = Path(runs_dir) / CLAIMS_DIR
        path = folder / f"{key}.lock"
        for _ in range(ATTEMPTS):
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                current = os.stat(path).st_ino
            except BlockingIOError:
                holder = os.read(fd, 200).decode("utf-8", "replace").strip() or "another process"
                os.close(fd)
                raise ClaimHeld(holder) from None
            except FileNotFoundError:  # removed by its last holder as we locked it
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if current != os.fstat(fd).st_ino:  # replaced meanwhile: the lock is on a file nobody sees
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {platform.node()}\n".encode(), 0)
            return cls(path, fd)
        raise ClaimHeld("a lock file that keeps changing")

    def release(self) -> None:
        """Remove the lock file (while still holding it, so nobody holds a lock on a removed file
        unknowingly: they check), then drop the lock."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
