"""SIGINT (Ctrl-C) and SIGTERM (a scheduler, `kill`, a parent stopping its workers) mean the same:
stop, leaving every run with a true status.

The first signal stops at the next safe point. Where nothing is half done at any instant (the
imports, loading data, waiting for workers) it raises Interrupted at once; inside `deferred()` (a
run's life: its files, the training loop) it only sets `requested`, and the code polls it: the loop
stops after the current step, writes last.pt and raises Interrupted itself; `interruptible()` opens
a window inside for slow work with nothing to save. The process then exits with 128 + the signal number (130, 143).

A second signal means "now": the emergency actions registered by the runs in progress mark them
`interrupted` (and remove temporary files), then the process exits at once.

Parallel workers ignore SIGINT (a terminal sends Ctrl-C to the whole process group, and their
parent decides) and die with their parent (`die_with_parent`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from cnnlab.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
PR_SET_PDEATHSIG = 1  # linux/prctl.h


class Stop:
    """This process's answer to SIGINT and SIGTERM (one instance: signal handlers are per process)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self._deferring = 0
        self._emergency: list[Callable[[int], None]] = []

    def requested(self) -> int | None:
        """The signal that asked to stop, if one did."""
        return self.signum

    def adopt(self, signum: int) -> None:
        """A stop another process of the same job was asked for (torchrun), agreed by all: this
        process stops as if the signal had come here."""
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        """Raise Interrupted now if a signal came while stopping was deferred."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Inside, a first signal only sets `requested`; the code polls it and stops where its state
        is whole."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Inside (within a `deferred` block), a first signal raises Interrupted at once again: for
        slow work with nothing to save (imports, loading data). Raises at once if one came already."""
        saved, self._deferring = self._deferring, 0
        try:
            self.check()
            yield
        finally:
            self._deferring = saved

    @contextlib.contextmanager
    def on_emergency(self, action: Callable[[int], None]) -> Iterator[None]:
        """While inside, a second signal runs `action(signum)` (mark the run, clean up) before exiting."""
        self._emergency.append(action)
        try:
            yield
        finally:
            self._emergency.remove(action)

    def handle(self, signum: int, frame: object = None) -> None:
        if self.signum is None:
            self.signum = signum
            if not self._deferring:
                raise Interrupted(signum)
            return
        for action in reversed(self._emergency):
            with contextlib.suppress(BaseException):
                action(signum)
        with contextlib.suppress(OSError):
            os.write(2, f"stopped at once by a second {signal.Signals(signum).name}\n".encode())
        os._exit(128 + signum)

    def reset(self) -> None:
        self.signum, self._deferring, self._emergency = None, 0, []


STOP = Stop()


@contextlib.contextmanager
def handle_signals(ignore_sigint: bool = False) -> Iterator[Stop]:
    """SIGINT and SIGTERM handled by STOP while inside (SIGINT ignored with `ignore_sigint`, in a
    parallel worker); the previous handlers come back on leaving. Outside the main thread, where
    Python cannot set handlers, STOP is still there to poll but no signal reaches it."""
    STOP.reset()
    if threading.current_thread() is not threading.main_thread():
        yield STOP
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    signal.signal(signal.SIGTERM, STOP.handle)
    signal.signal(signal.SIGINT, signal.SIG_IGN if ignore_sigint else STOP.handle)
    try:
        yield STOP
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def reclaim_signals() -> None:
    """SIGINT and SIGTERM to STOP again, inside `handle_signals`, after a library set its own handler
    (ray.init sets SIGTERM's); `handle_signals` still restores the ones from before it on leaving."""
    if threading.current_thread() is threading.main_thread():
        for s in STOP_SIGNALS:
            signal.signal(s, STOP.handle)


@contextlib.contextmanager
def signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back (not lost) while inside."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def start_with_signals_blocked(process: Any) -> None:
    """Start a multiprocessing `process` with SIGINT and SIGTERM blocked: it inherits the block, so it
    cannot be stopped before it has installed its own handlers (`unblock_signals`). On POSIX the
    first process started also starts multiprocessing's resource tracker, which unblocks both signals
    in the caller once it runs: it is started before the block, or the first worker would have none."""
    if os.name == "posix":
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
    with signals_blocked():
        process.start()


def unblock_signals() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def die_with_parent(parent_pid: int) -> None:
    """Get SIGTERM when the parent process dies (its run then ends `interrupted`, like any other).
    Linux does it in the kernel (PR_SET_PDEATHSIG, even when the parent is SIGKILLed); elsewhere a
    thread watches the parent."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="cnnlab-parent-watch").start()
    if os.getppid() != parent_pid:  # it died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
