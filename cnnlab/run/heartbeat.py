"""The heartbeat of a running run: meta.json's `heartbeat` rewritten every HEARTBEAT_S seconds by a
thread, so that it beats through long steps, data loading and downloads alike. A reader that finds an
old heartbeat (or, on the same machine, a dead pid) shows the run as `stale` (cnnlab.rundir.liveness).
"""

from __future__ import annotations

import contextlib
import threading

from cnnlab.rundir.liveness import HEARTBEAT_S, now_iso
from cnnlab.rundir.store import RunStore


class Heartbeat:
    """`with Heartbeat(store):` beats while inside."""

    def __init__(self, store: RunStore, interval: float = HEARTBEAT_S) -> None:
        self.store, self.interval = store, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="cnnlab-heartbeat")

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            with contextlib.suppress(Exception):  # a full disk now may have room at the next beat
                self.store.update_meta(heartbeat=now_iso())

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
