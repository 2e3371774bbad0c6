"""The OTLP exporter: every interval, encode the current Snapshot and queue it for a sender thread.

Two threads: the ticker builds and encodes (metrics request plus flow log requests) into a
bounded queue of `queue_size` requests; when full, the oldest request is dropped and its
points or records counted. The sender retries a failed request with capped exponential
backoff and jitter (`max_backoff_s`) until it goes through, shutdown, or the request is older
than `MAX_AGE_INTERVALS` intervals: then it is dropped (counted, also in
`otlp_expired_requests_total`), as are queued requests that old, so after an outage fresh
data goes first. A non-retryable answer drops it (counted). A dead collector therefore costs
at most `queue_size` requests of memory and never blocks the agent. `agent_counters()` gives
the counters for Snapshot.agent.
"""
from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from typing import Callable, Deque, Dict, Iterable, List, Tuple

from google.protobuf.message import Message

from ..catalogue import CATALOGUE, Catalogue
from ..config import OtlpConfig
from ..records import FlowRecord, Snapshot
from ..sonic.follower import backoff_delay
from .otlp_encode import MetricsEncoder, encode_events, encode_flows
from .otlp_transport import ExportFailed, GrpcTransport, HttpTransport, expand_headers

log = logging.getLogger(__name__)
# ("metrics" | "logs", request, points or records in it, time.monotonic() when encoded)
Batch = Tuple[str, Message, int, float]
MAX_AGE_INTERVALS = 3  # a request older than this many intervals is dropped, not retried


def _log_batches(requests: Iterable[Message], now: float) -> List[Batch]:
    return [("logs", req, len(req.resource_logs[0].scope_logs[0].log_records), now) for req in requests]


class OtlpExporter:
    def __init__(self, cfg: OtlpConfig, snapshot_fn: Callable[[], Snapshot], catalogue: Catalogue = CATALOGUE):
        headers = expand_headers(cfg.headers)
        self._transport = (GrpcTransport if cfg.protocol == "grpc" else HttpTransport)(cfg, headers)
        self._cfg = cfg
        self._snapshot_fn = snapshot_fn
        self._encoder = MetricsEncoder(cfg.temporality, time.time(), catalogue=catalogue)
        self._queue: Deque[Batch] = deque()
        self._ready = threading.Condition()
        self._shutdown = threading.Event()
        self._threads = [threading.Thread(target=self._tick_loop, name="otlp-ticker", daemon=True),
                         threading.Thread(target=self._send_loop, name="otlp-sender", daemon=True)]
        self._stats: Dict[str, int] = dict.fromkeys((
            "otlp_exported_points_total", "otlp_exported_logs_total", "otlp_dropped_points_total",
            "otlp_dropped_logs_total", "otlp_retries_total", "otlp_expired_requests_total",
            "otlp_snapshot_failures_total"), 0)
        self._max_age = MAX_AGE_INTERVALS * cfg.interval_s

    def start(self) -> "OtlpExporter":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        self._shutdown.set()
        with self._ready:
            self._ready.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._transport.close()
        with self._ready:
            while self._queue:
                self._count_drop(self._queue.popleft())

    def agent_counters(self) -> Dict[str, int]:
        with self._ready:
            return dict(self._stats, otlp_queue_length=len(self._queue),
                        otlp_delta_evictions_total=self._encoder.delta.evictions if self._encoder.delta else 0)

    def export_once(self) -> None:
        """Encode the current Snapshot and queue it (the ticker calls this every interval)."""
        try:
            snapshot = self._snapshot_fn()
            metrics, points = self._encoder.encode(snapshot)
            now = time.monotonic()
            batches = [("metrics", metrics, points, now)] + _log_batches(encode_flows(snapshot, snapshot.flows), now)
        except Exception:  # a broken source must not stop the exporter
            log.exception("otlp: building or encoding the snapshot failed")
            with self._ready:
                self._stats["otlp_snapshot_failures_total"] += 1
            return
        self._enqueue(batches)

    def queue_events(self, snapshot: Snapshot, events) -> None:
        """Log records of events made elsewhere (the SLO engine's), queued like the flows."""
        request = encode_events(snapshot, events)
        self._enqueue([("logs", request, len(events), time.monotonic())])

    def export_job_flows(self, flows: List[FlowRecord], job_id: str) -> None:
        """Queue a mirror job's flows as log records tagged with its id (sonic_agent.jobs)."""
        self._enqueue(_log_batches(encode_flows(self._snapshot_fn(), flows, job_id), time.monotonic()))

    def _enqueue(self, batches: List[Batch]) -> None:
        """Queue batches; when full, the oldest request is dropped (counted)."""
        with self._ready:
            for batch in batches:
                if len(self._queue) >= self._cfg.queue_size:
                    self._count_drop(self._queue.popleft())
                self._queue.append(batch)
            self._ready.notify()

    def _tick_loop(self) -> None:
        while not self._shutdown.wait(self._cfg.interval_s):
            self.export_once()

    def _send_loop(self) -> None:
        while True:
            with self._ready:
                while not self._queue and not self._shutdown.is_set():
                    self._ready.wait()
                if self._shutdown.is_set():
                    return
                batch = self._queue.popleft()
            self._deliver(batch)

    def _deliver(self, batch: Batch) -> None:
        kind, request, count, encoded_at = batch
        for attempt in itertools.count():
            if time.monotonic() - encoded_at > self._max_age:
                log.debug("otlp: dropping %d %s older than %.1fs", count, kind, self._max_age)
                with self._ready:
                    self._stats["otlp_expired_requests_total"] += 1
                    self._count_drop(batch)
                return
            try:
                self._transport.send(kind, request)
            except ExportFailed as exc:
                delay = backoff_delay(attempt, self._cfg.max_backoff_s, base_s=0.5)
                if exc.retryable:
                    (log.warning if attempt == 0 else log.debug)(
                        "otlp: %s export failed (%s), retrying in %.1fs", kind, exc, delay)
                    with self._ready:
                        self._stats["otlp_retries_total"] += 1
                if not exc.retryable or self._shutdown.wait(delay):
                    log.warning("otlp: dropping %d %s: %s", count, kind, exc)
                    with self._ready:
                        self._count_drop(batch)
                    return
            else:
                with self._ready:
                    self._stats["otlp_exported_points_total" if kind == "metrics" else "otlp_exported_logs_total"] += count
                return

    def _count_drop(self, batch: Batch) -> None:
        """Caller holds self._ready."""
        kind, _, count, _ = batch
        self._stats["otlp_dropped_points_total" if kind == "metrics" else "otlp_dropped_logs_total"] += count

