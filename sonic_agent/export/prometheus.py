"""Prometheus `/metrics`: an HTTP server encoding the current Snapshot (the tick's, shared).

Default address 127.0.0.1:9110 (`export.prometheus.listen`). OpenMetrics 1.0 when the
scraper's Accept header asks for it (Prometheus does), the text format 0.0.4 otherwise;
gzip when Accept-Encoding allows. A Snapshot is encoded once per format however many scrape
it (a scrape reads at most one tick old data); the exporter's own counters follow in a gzip
member of their own. Nothing is kept per label between ticks, so a port, flow or session that
leaves the Snapshot leaves the exposition. At most `MAX_CONNECTIONS` clients are served at
once, each with `_MetricsHandler.timeout` seconds per read or write; one more is answered 503
at once and counted (telegen_prometheus_scrapes_rejected_total).
"""
from __future__ import annotations

import gzip
import logging
import socket
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Optional, Tuple

from ..catalogue import CATALOGUE, Catalogue
from ..catalogue.agent import PROMETHEUS_COUNTERS
from ..config import PrometheusConfig
from ..errors import UserError
from ..listen import parse_listen
from ..records import Snapshot
from .prometheus_encode import (EOF, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, LabelCache, SeriesBudget, families,
                                render, snapshot_text, wants_openmetrics)

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 4  # handler threads; scrapes are seconds apart
POLL_S = 0.05  # how soon the accept loop sees stop()
_BUSY_BODY = b"too many concurrent scrapes, retry\n"
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


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
        self.stats = {"series_cut": 0, "snapshot_failures": 0, "scrapes_rejected": 0}

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

    def count_rejected(self) -> None:
        with self._lock:
            self.stats["scrapes_rejected"] += 1


class PrometheusExporter:
    """Serves /metrics on cfg.listen from `snapshot_fn`; `port` is the bound port (listen :0 ok)."""

    def __init__(self, cfg: PrometheusConfig, snapshot_fn: Callable[[], Snapshot], catalogue: Catalogue = CATALOGUE):
        self.host, self.port = parse_listen(cfg.listen, "config: export.prometheus.listen")
        self.listen = cfg.listen
        self.collector = SnapshotCollector(snapshot_fn, cfg.max_series, catalogue)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "PrometheusExporter":
        try:
            self._server = _Server((self.host, self.port), self.collector)
        except OSError as exc:
            raise UserError(f"export.prometheus.listen: cannot bind {self.listen}: {exc.strerror}") from None
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, args=(POLL_S,),
                                        name="prometheus", daemon=True)
        self._thread.start()
        log.info("prometheus: serving /metrics on %s:%d", self.host, self.port)
        return self

    def agent_counters(self) -> Dict[str, float]:
        """Nothing for Snapshot.agent: the collector serves its own counters directly, since they
        must come out even when the snapshot cannot be built."""
        return {}

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)
            self._server = None


class _Server(ThreadingHTTPServer):
    """One thread per connection, at most MAX_CONNECTIONS of them; past that, 503 from the
    accepting thread without reading the request."""

    daemon_threads = True

    def __init__(self, address, collector: SnapshotCollector):
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.collector = collector
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _MetricsHandler)

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            self.collector.count_rejected()
            try:
                request.sendall(BUSY)  # fits the fresh socket's send buffer: does not block
            except OSError:
                pass  # the client left already; it is counted all the same
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()


class _MetricsHandler(BaseHTTPRequestHandler):
    timeout = 10.0  # socket timeout: a client that stalls sending its request or reading the answer

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        if self.path.split("?")[0] not in ("/metrics", "/"):
            self.send_error(404, "only /metrics here")
            return
        openmetrics = wants_openmetrics(self.headers.get("Accept", ""))
        gzipped = "gzip" in self.headers.get("Accept-Encoding", "")
        body = self.server.collector.body(openmetrics, gzipped)
        self.send_response(200)
        self.send_header("Content-Type", OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE)
        if gzipped:
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        log.debug("prometheus: " + format, *args)
