"""An exclusive claim on one run, so that two cnnlab processes never train the same run at once
(two `cnnlab train` of one spec started together, a resume while the run still trains, two hosts of
a cluster given overlapping work).

A claim is a lock on `runs/.claims/<key>.lock` (flock; on Windows, msvcrt's byte lock), taken without
waiting by the process that is about to create or resume the run and held until the run ends. The
operating system drops it when that process exits, however it exits (SIGKILL included), so a claim
is never left behind; a holder that ends normally also removes the file (on Windows, where an open
file cannot be removed, the file stays: the lock is what counts). The key is the run's identity
(cnnlab.spec.identity.identity_key): the same run whatever directory it is in. Whoever starts runs
(the sequential loop, a parallel worker, a Ray task) takes the claim through `execute_run`, never
around it; only where a Ray worker trains into a directory of its own, to be shipped back, does the
process that places the run take it (cnnlab.run.ray_backend), since the worker cannot reach the runs
directory.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from pathlib import Path

from cnnlab.rundir.folders import experiment_dir

CLAIMS_DIR = ".claims"  # inside the runs directory; hidden, so that `compare` never walks it
ATTEMPTS = 10  # a lock file removed by its holder just as another process locked it: open it again
HOLDER_BYTES = 200  # the holder's line at the start of the file: `pid 4242 on node-3`

if sys.platform == "win32":
    import msvcrt

    LOCKED_BYTE = 1 << 20  # a Windows lock bars reading the bytes it covers: lock one far past the holder's line

    def _try_lock(fd: int) -> bool:
        """Lock the file without waiting; False when another process holds it."""
        os.lseek(fd, LOCKED_BYTE, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        """Lock the file without waiting; False when another process holds it."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def claims_folder(runs_dir: Path) -> Path:
    """runs/.claims, resolved; refused (RunDirError) when it leads out of the runs directory (a link),
    as runs/<name> is, before a lock file is made there."""
    return experiment_dir(runs_dir, CLAIMS_DIR)


class ClaimHeld(Exception):
    """Another process holds the claim; `holder` names it (`pid 4242 on node-3`)."""

    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _holder(fd: int) -> str:
    """The line the holder wrote at the start of the lock file."""
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, HOLDER_BYTES).decode("utf-8", "replace").strip() or "another process"


class RunClaim:
    """A held claim; release it (or leave the `with` block) when the run has ended."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def acquire(cls, runs_dir: Path, key: str) -> RunClaim:
        """Take the claim on run `key` among the runs under `runs_dir`; ClaimHeld if it is taken."""
        folder = claims_folder(runs_dir)
        path = folder / f"{key}.lock"
        for _ in range(ATTEMPTS):
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                held = not _try_lock(fd)
                holder = _holder(fd) if held else ""
                current = None if held else os.stat(path).st_ino
            except FileNotFoundError:  # removed by its last holder as we locked it
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if held:
                os.close(fd)
                raise ClaimHeld(holder)
            if current != os.fstat(fd).st_ino:  # replaced meanwhile: the lock is on a file nobody sees
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"pid {os.getpid()} on {platform.node()}\n".encode())
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
