"""Prometheus `/metrics`: an HTTP server that encodes a fresh Snapshot per scrape.

Default address 127.0.0.1:9110 (`export.prometheus.listen`). OpenMetrics 1.0 when the
scraper's Accept header asks for it (Prometheus does), the text format 0.0.4 otherwise;
gzip when Accept-Encoding allows. Nothing is kept per label between scrapes, so a port, flow
or session that leaves the Snapshot leaves the exposition. At most `MAX_CONNECTIONS` clients
are served at once, each with `_MetricsHandler.timeout` seconds per read or write; one more is
answered 503 at once and counted (telegen_prometheus_scrapes_rejected_total).
"""
from __future__ import annotations

import gzip
import logging
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterator, Optional

from prometheus_client.core import CounterMetricFamily, Metric

from ..config import PrometheusConfig
from ..errors import UserError
from ..listen import parse_listen
from ..records import Snapshot
from .prometheus_exposition import OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE, render, wants_openmetrics
from .prometheus_families import SeriesBudget, snapshot_families

log = logging.getLogger(__name__)
MAX_CONNECTIONS = 4  # handler threads; scrapes are seconds apart and each builds a whole Snapshot
_BUSY_BODY = b"too many concurrent scrapes, retry\n"
BUSY = (b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_BUSY_BODY), _BUSY_BODY))


class SnapshotCollector:
    """A prometheus_client collector: `collect()` encodes `snapshot_fn()` at scrape time."""

    def __init__(self, snapshot_fn: Callable[[], Snapshot], max_series: int):
        self._snapshot_fn = snapshot_fn
        self._max_series = max_series
        self._lock = threading.Lock()
        self.series_cut = 0
        self.failures = 0
        self.rejected = 0

    def collect(self) -> Iterator[Metric]:
        budget = SeriesBudget(self._max_series)
        try:
            families = snapshot_families(self._snapshot_fn(), budget)
        except Exception:  # still serve the exporter's own counters, which say so
            log.exception("prometheus: building the snapshot failed")
            with self._lock:
                self.failures += 1
            families = []
        with self._lock:
            self.series_cut += budget.cut
            cut, failures, rejected = self.series_cut, self.failures, self.rejected
        yield from families
        yield CounterMetricFamily("telegen_prometheus_series_cut", "Series left out by "
                                  "export.prometheus.max_series since the agent started.", value=cut)
        yield CounterMetricFamily("telegen_prometheus_snapshot_failures", "Scrapes whose snapshot "
                                  "could not be built.", value=failures)
        yield CounterMetricFamily("telegen_prometheus_scrapes_rejected", "Connections answered 503: "
                                  "more than the concurrent scrapes served at once.", value=rejected)

    def count_rejected(self) -> None:
        with self._lock:
            self.rejected += 1


class PrometheusExporter:
    """Serves /metrics on cfg.listen from `snapshot_fn`; `port` is the bound port (listen :0 ok)."""

    def __init__(self, cfg: PrometheusConfig, snapshot_fn: Callable[[], Snapshot]):
        self.host, self.port = parse_listen(cfg.listen, "config: export.prometheus.listen")
        self.listen = cfg.listen
        self.collector = SnapshotCollector(snapshot_fn, cfg.max_series)
        self._server: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None

    def start(self) -> "PrometheusExporter":
        try:
            self._server = _Server((self.host, self.port), self.collector)
        except OSError as exc:
            raise UserError(f"export.prometheus.listen: cannot bind {self.listen}: {exc.strerror}") from None
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="prometheus", daemon=True)
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
        body = render(self.server.collector.collect(), openmetrics)
        self.send_response(200)
        self.send_header("Content-Type", OPENMETRICS_CONTENT_TYPE if openmetrics else TEXT_CONTENT_TYPE)
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            body = gzip.compress(body, compresslevel=1)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        log.debug("prometheus: " + format, *args)
