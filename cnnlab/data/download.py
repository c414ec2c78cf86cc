"""Whether a dataset can be downloaded from here, asked by the pre-flight before any run directory
exists: a TCP connection to each of its download hosts (or to the proxy urllib would use for it),
all at once, answered within CONNECT_S however the network fails (a name that does not resolve, a
firewall that drops the packets). Torch-free, and nothing is downloaded."""

from __future__ import annotations

import queue
import socket
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence

CONNECT_S = 3.0  # the longest the question may take: a reachable host answers in a fraction of it

PORTS = {"https": 443, "http": 80}


def reachable(urls: Sequence[str], timeout: float = CONNECT_S) -> bool:
    """Whether the host of any of `urls` accepts a connection within `timeout` seconds."""
    answers: queue.Queue[bool] = queue.Queue()
    for url in urls:  # daemon threads: one stuck in the resolver is left behind, not waited for
        threading.Thread(target=lambda u=url: answers.put(_connects(u, timeout)), daemon=True).start()
    deadline = time.monotonic() + timeout
    for _ in urls:
        try:
            if answers.get(timeout=max(deadline - time.monotonic(), 0)):
                return True
        except queue.Empty:
            return False
    return False


def host(url: str) -> str:
    return urllib.parse.urlsplit(url).hostname or url


def _connects(url: str, timeout: float) -> bool:
    parts = urllib.parse.urlsplit(url)
    proxy = urllib.request.getproxies().get(parts.scheme)
    if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    try:
        with socket.create_connection((parts.hostname, parts.port or PORTS.get(parts.scheme, 80)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False
