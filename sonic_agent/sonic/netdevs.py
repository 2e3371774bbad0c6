"""Kernel netdev name -> ifindex in the agent's current network namespace, via pyroute2.

The table is re-read from netlink at most once per `max_age_s`, so a lookup on a hot path
costs a dict access and netdevs created later (the lab, a new PortChannel) still show up.
"""
from __future__ import annotations

import threading
import time
from typing import Dict, Optional

from pyroute2 import IPRoute


def read_ifindexes() -> Dict[str, int]:
    with IPRoute() as ipr:
        return {link.get("ifname"): link["index"] for link in ipr.get_links()}


class NetdevIndex:
    def __init__(self, max_age_s: float = 1.0):
        self._max_age_s = max_age_s
        self._lock = threading.Lock()
        self._by_name: Dict[str, int] = {}
        self._by_index: Dict[int, str] = {}
        self._read_at = float("-inf")

    def _current(self) -> Dict[str, int]:
        with self._lock:
            if time.monotonic() - self._read_at < self._max_age_s:
                return self._by_name
        by_name = read_ifindexes()
        with self._lock:
            self._by_name, self._by_index = by_name, {v: k for k, v in by_name.items()}
            self._read_at = time.monotonic()
        return by_name

    def ifindex(self, name: str) -> Optional[int]:
        return self._current().get(name)

    def name(self, ifindex: int) -> Optional[str]:
        self._current()
        with self._lock:
            return self._by_index.get(ifindex)

    def snapshot(self) -> Dict[str, int]:
        return self._current()
