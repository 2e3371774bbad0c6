"""Prometheus `/metrics`: an HTTP server encoding the current Snapshot (the tick's, shared).

Default address 127.0.0.1:9110 (`export.prometheus.listen`). OpenMetrics 1.0 when the
scraper's Accept header asks for it (Prometheus does), the text format 0.0.4 otherwise;
gzip when Accept-Encoding allows. A Snapshot is encoded once per format however many scrape
it (a scrape reads at most one tick old data); the exporter's own counters follow in a gzip
member of their own. Nothing is kept per label between ticks, so a port, flow or session that
leaves the Snapshot leaves the exposition. The HTTP server is the agent's bounded one
(sonic_agent.httpserver, limits `LIMITS`): connections at once and per client, each request's
whole time, its head; refusals answered 503/408/414/431/413 and counted in the agent counters
`prometheus_http_*`.
"""
from __future__ import annotations

import gzip
import logging
import threading
import weakref
from typing import Callable, Dict, Optional, Tuple

from ..catalogue import CATALOGUE, Catalogue
from ..catalogue.agent import PROMETHEUS_COUNTERS
from ..config import PrometheusConfig
from ..errors import UserError
from ..httpserver import BoundedHandler, BoundedHTTPServer, HttpLimits
from ..listen import parse_listen
from ..records import Snapshot
from .prometheus_encode import (EOF, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, LabelCache, SeriesBudget, families,
                                render, snapshot_text, wants_openmetrics)

log = logging.getLogger(__name__)
# Scrapes are seconds apart and answered in milliseconds: 16 slots leave room for Prometheus
# while a few slow or hostile clients (4 per address) wait out their 5 s.
LIMITS = HttpLimits(max_connections=16, max_per_client=4, request_timeout_s=5.0, max_body=0)


class SnapshotCollector:
    """Encodes `snapshot_fn()` once per Snapshot and format (the bytes kept for the scrapes that
    follow until the next tick; a weak reference, so an old Snapshot is not kept alive), then its
    own counters. gzip as two members: the Snapshot's, then the counters'."""

    def __init__(self, snapshot_fn: Callable[[], Snapshot], max_series: int, catalogue: Catalogue = CATALOGUE):
        self._snapshot_fn = snapshot_fn
        self._max_series = max_series
        self._catalogue = catalogue
        self._lock = threading.Lock()
        self._encoded: Dict[Tuple[bool, bool], Tuple[weakref.ref, bytes, int]] = {}  # (openmetrics, gzip) ->
        self._labels = LabelCache()  # used under _encode_lock: one encode at a time
        self._encode_lock = threading.Lock()
        self.stats = {"series_cut": 0, "snapshot_failures": 0}

    def body(self, openmetrics: bool, gzipped: bool) -> bytes:
        snapshot_part = b""
        try:
            snapshot_part, cut = self._encode(self._snapshot_fn(), openmetrics, gzipped)
        except Exception:  # still serve the exporter's own counters, which say so
            log.exception("prometheus: encoding the snapshot failed")
            cut, failed = 0, 1
        else:
            failed = 0
        with self._lock:
            self.stats["series_cut"] += cut
            self.stats["snapshot_failures"] += failed
            stats = dict(self.stats)
        tail = render(families(PROMETHEUS_COUNTERS, stats, SeriesBudget(len(stats))), openmetrics)
        tail = (tail + (EOF if openmetrics else "")).encode()
        return snapshot_part + (gzip.compress(tail, compresslevel=1) if gzipped else tail)

    def _encode(self, snapshot: Snapshot, openmetrics: bool, gzipped: bool) -> Tuple[bytes, int]:
        with self._encode_lock:  # concurrent scrapes of one Snapshot wait for its one encode
            cached = self._encoded.get((openmetrics, gzipped))
            if cached is not None and cached[0]() is snapshot:
                return cached[1], cached[2]
            text, cut = snapshot_text(snapshot, self._catalogue, openmetrics, self._max_series, self._labels)
            data = text.encode()
            del text
            if gzipped:
                data = gzip.compress(data, compresslevel=1)
            self._encoded[(openmetrics, gzipped)] = (weakref.ref(snapshot), data, cut)
            return data, cut


class PrometheusExporter:
    """Serves /metrics on cfg.listen from `snapshot_fn`; `port` is the bound port (listen :0 ok)."""

    def __init__(self, cfg: PrometheusConfig, snapshot_fn: Callable[[], Snapshot], catalogue: Catalogue = CATALOGUE,
                 limits: HttpLimits = LIMITS):
        self.host, self.port = parse_listen(cfg.listen, "config: export.prometheus.listen")
        self.listen = cfg.listen
        self.limits = limits
        self.collector = SnapshotCollector(snapshot_fn, cfg.max_series, catalogue)
        self._server: Optional[BoundedHTTPServer] = None

    def start(self) -> "PrometheusExporter":
        try:
            self._server = BoundedHTTPServer("prometheus", (self.host, self.port), _MetricsHandler, self.limits)
        except OSError as exc:
            raise UserError(f"export.prometheus.listen: cannot bind {self.listen}: {exc.strerror}") from None
        self._server.collector = self.collector
        self.port = self._server.server_port
        self._server.start()
        log.info("prometheus: serving /metrics on %s:%d", self.host, self.port)
        return self

    def agent_counters(self) -> Dict[str, float]:
        """The HTTP server's counters; the collector serves its own directly (they must come out
        even when the snapshot cannot be built)."""
        return self._server.counters() if self._server is not None else {}

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None


class _MetricsHandler(BoundedHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?")[0] not in ("/metrics", "/"):
            self.send_error(404, "only /metrics here")
            return
        openmetrics = wants_openmetrics(self.headers.get("Accept", ""))
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        body = self.server.collector.body(openmetrics, gzipped)
        self.send_bytes(200, OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE, body,
                        {"Content-Encoding": "gzip"} if gzipped else None)
