"""What keeps one gNMI client from knocking the server over: admission, login throttling, logs.

A client is its peer address: an IPv4 address, or an IPv6 /64 (one host's addresses rotate
within its prefix). Every RPC is admitted first: Subscribe streams at most `max_streams` in
total and `max_streams_per_client` per client, counted from before the first request is read
(so streams that never send one hold a place and nothing more); Get and Capabilities at most
`UNARY_SLOTS` at once, `UNARY_PER_CLIENT` per client, in worker threads streams cannot take.
Logins that fail are counted and logged, and after `FREE_FAILURES` a client must wait before
its next try (1 s doubling to 60 s): the wait is a refusal at once, never a sleeping worker.
A client's Get replies may total `max_response_bytes` per `BUDGET_REFILL_S` (building them
is the CPU a Get costs). Per-client tables hold at most `MAX_CLIENTS` entries. Every refusal is counted (`counters`),
and logged as one line without a traceback, at most once per kind every `LOG_INTERVAL_S`.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
import urllib.parse
from collections import OrderedDict
from typing import Dict, Optional

UNARY_SLOTS = 8
UNARY_PER_CLIENT = 4
FREE_FAILURES = 3
LOGIN_WAIT_S, LOGIN_WAIT_MAX_S = 1.0, 60.0
MAX_CLIENTS = 4096
LOG_INTERVAL_S = 10.0
BUDGET_REFILL_S = 10.0  # a client's Get replies: at most max_response_bytes per this many seconds

COUNTERS = ("gnmi_subscriptions_refused_total", "gnmi_refused_client_limit_total", "gnmi_refused_busy_total",
            "gnmi_first_request_timeouts_total", "gnmi_idle_timeouts_total", "gnmi_refused_too_many_paths_total",
            "gnmi_refused_response_too_large_total", "gnmi_refused_reply_budget_total", "gnmi_invalid_requests_total", "gnmi_unimplemented_total",
            "gnmi_login_failures_total", "gnmi_logins_throttled_total", "gnmi_deadline_exceeded_total",
            "gnmi_internal_errors_total", "gnmi_log_lines_suppressed_total", "gnmi_refused_overload_total",
            "gnmi_requests_unread_total")


def client_of(peer: str) -> str:
    """'ipv4:10.0.0.1:5000' -> '10.0.0.1'; 'ipv6:%5B2001:db8::1%5D:5000' -> '2001:db8::/64'; a
    v4-mapped v6 address is its IPv4; anything else (unix:...) is itself."""
    kind, _, rest = urllib.parse.unquote(peer).partition(":")
    host = rest.rpartition(":")[0].strip("[]") if kind in ("ipv4", "ipv6") else ""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return peer[:100]
    if address.version == 6 and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class LogLimiter:
    """One warning per kind per LOG_INTERVAL_S; the lines held back are counted and said in the next."""

    def __init__(self, log: logging.Logger, count_suppressed, interval_s: float = LOG_INTERVAL_S):
        self._log, self._count, self._interval = log, count_suppressed, interval_s
        self._lock = threading.Lock()
        self._last: Dict[str, float] = {}
        self._held: Dict[str, int] = {}

    def warning(self, kind: str, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -self._interval) < self._interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                self._count()
                return
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        self._log.warning("gnmi: %s%s", message, f" ({held} more like it since the last such line)" if held else "")


class Admission:
    """Per-client and total counts of what is open, under one lock."""

    def __init__(self, total: int, per_client: int):
        self.total, self.per_client = total, per_client
        self._open: Dict[str, int] = {}
        self._count = 0
        self._lock = threading.Lock()

    def enter(self, client: str) -> Optional[str]:
        """None when admitted (call `leave` later), else why not: 'total' or 'client'."""
        with self._lock:
            if self._count >= self.total:
                return "total"
            if self._open.get(client, 0) >= self.per_client:
                return "client"
            self._open[client] = self._open.get(client, 0) + 1
            self._count += 1
            return None

    def leave(self, client: str) -> None:
        with self._lock:
            left = self._open.get(client, 0) - 1
            if left > 0:
                self._open[client] = left
            else:
                self._open.pop(client, None)
            self._count -= 1

    def open(self) -> int:
        with self._lock:
            return self._count


class ReplyBudget:
    """Bytes of Get replies per client: a bucket of `burst` bytes refilled over `refill_s`, so a
    client's Gets cost at most that much building per second however often it asks (a reply
    may overdraw the bucket; the client then waits until it is positive again)."""

    def __init__(self, burst: int, refill_s: float = BUDGET_REFILL_S):
        self.burst, self._rate = burst, burst / refill_s
        self._clients: "OrderedDict[str, tuple]" = OrderedDict()  # client -> (bytes left, at)
        self._lock = threading.Lock()

    def _left(self, client: str, now: float) -> float:
        left, at = self._clients.pop(client, (self.burst, now))
        return min(self.burst, left + (now - at) * self._rate)

    def wait_s(self, client: str) -> float:
        """Seconds until `client` may ask again (0: now)."""
        now = time.monotonic()
        with self._lock:
            left = self._left(client, now)
            self._clients[client] = (left, now)
            return 0.0 if left > 0 else -left / self._rate

    def spend(self, client: str, size: int) -> None:
        now = time.monotonic()
        with self._lock:
            self._clients[client] = (self._left(client, now) - size, now)
            while len(self._clients) > MAX_CLIENTS:
                self._clients.popitem(last=False)


class LoginThrottle:
    """Failed logins per client; past FREE_FAILURES, the client waits LOGIN_WAIT_S doubling
    up to LOGIN_WAIT_MAX_S after each failure before it may try again."""

    def __init__(self):
        self._failures: "OrderedDict[str, tuple]" = OrderedDict()  # client -> (failures, may try at)
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """Seconds before `client` may try again (0: now)."""
        with self._lock:
            entry = self._failures.get(client)
            return 0.0 if entry is None else max(0.0, entry[1] - time.monotonic())

    def failed(self, client: str) -> int:
        """Counts a failure; returns the client's failures so far."""
        with self._lock:
            failures = self._failures.pop(client, (0, 0.0))[0] + 1
            wait = 0.0 if failures <= FREE_FAILURES else \
                min(LOGIN_WAIT_S * 2 ** (failures - FREE_FAILURES - 1), LOGIN_WAIT_MAX_S)
            self._failures[client] = (failures, time.monotonic() + wait)
            while len(self._failures) > MAX_CLIENTS:
                self._failures.popitem(last=False)
            return failures

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._failures.pop(client, None)
