"""gNMI server on grpcio: Capabilities, Get and Subscribe over the Snapshot (gnmi_service; paths:
gnmi_paths).

Stubs: the gNMI 0.8.0 stubs that pygnmi ships (`pygnmi.spec.v080`, generated from the
OpenConfig proto, with the servicer). Encodings JSON and JSON_IETF. Security: TLS with
`tls.cert`/`tls.key` (read and checked at start: a key that does not match its certificate is
one line), mTLS when `tls.client_ca` is set; when `username`/`password` are configured every
call must carry them as metadata (else UNAUTHENTICATED). Plain text is served only on a
loopback address; off loopback the server refuses to start without TLS and without
authentication (a password or a client CA). Requests are at most `MAX_REQUEST_BYTES`;
connections without an RPC for `idle_timeout_s` are closed, and HTTP/2 keepalives find peers
that vanished. gRPC's own error logs (a request that does not parse) become one rate-limited
line without a traceback, counted. What gRPC refuses before the service sees a call is counted
too (`_GrpcRefusals`): a method not offered, an RPC past `maximum_concurrent_rpcs` (every
worker busy and QUEUED_RPCS waiting), a request that never arrives whole (over
MAX_REQUEST_BYTES, or the client left first).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent import futures
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Protocol

import grpc

from ..catalogue import CATALOGUE, Catalogue
from ..config import GnmiConfig
from ..errors import UserError
from ..listen import is_loopback, parse_listen
from ..records import Snapshot
from .gnmi_guard import UNARY_SLOTS
from .gnmi_service import GnmiService, register

log = logging.getLogger(__name__)
MAX_REQUEST_BYTES = 1 << 20  # a Get of max_paths long paths fits many times over
QUEUED_RPCS = 2 * UNARY_SLOTS  # RPCs waiting for a worker; past them gRPC itself refuses
KEEPALIVE_S = 60
SETTLE_S = 1.0  # a call gRPC's serving thread took this long ago and did not hand to a worker: refused


class ChangeFeed(Protocol):
    """`subscribe(callback) -> unsubscribe`: `callback(anything)` is called, from any thread,
    whenever `snapshot_fn()` has something new (the pipeline's SnapshotFeed.subscribe: each tick
    and each model change)."""

    def __call__(self, callback: Callable[[object], None]) -> Callable[[], None]: ...


class _OneLine(logging.Filter):
    """gRPC's own server logs (an unparseable request, a failed callback) as the service's
    rate-limited one-line warnings, counted; the original record, with its traceback, dropped."""

    def __init__(self, service: GnmiService):
        super().__init__()
        self._service = service

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "deserializ" in message:
            self._service.count("gnmi_invalid_requests_total")
        self._service.log.warning("grpc", f"grpc: {message[:200]}")
        return False


@dataclass
class _Call:
    at: float  # when gRPC asked for its handler
    read: bool = False  # its request reached the service (or, a stream, the service started)


class _GrpcRefusals(grpc.ServerInterceptor):
    """Counts the calls gRPC refuses itself. Its one serving thread asks for a call's handler
    (here), then, under the same lock, either refuses the call (past maximum_concurrent_rpcs) or
    submits it to the pool (`submitted`, from `_Pool`): so a call asked for and not submitted by
    the time the next is asked for, or SETTLE_S later (`settle`), was refused. A submitted
    unary call whose request the service never got was one over the size limit, or abandoned."""

    def __init__(self, count: Callable[[str], None]):
        self._count = count
        self._lock = threading.Lock()
        self._pending: Optional[_Call] = None

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        with self._lock:
            self._settle(0.0)
            if handler is None:
                self._count("gnmi_unimplemented_total")
                return None
            call = self._pending = _Call(time.monotonic())
        return _watched(handler, call)

    def submitted(self) -> Optional[_Call]:
        with self._lock:
            call, self._pending = self._pending, None
        return call

    def settle(self) -> None:
        with self._lock:
            self._settle(SETTLE_S)

    def _settle(self, after_s: float) -> None:
        if self._pending is not None and time.monotonic() - self._pending.at >= after_s:
            self._pending = None
            self._count("gnmi_refused_overload_total")

    def unread(self) -> None:
        self._count("gnmi_requests_unread_total")


def _watched(handler: grpc.RpcMethodHandler, call: _Call) -> grpc.RpcMethodHandler:
    """`handler` noting in `call` when its request is deserialized (a stream: when it starts)."""
    deserialize = handler.request_deserializer or (lambda data: data)

    def read(data: bytes):
        call.read = True
        return deserialize(data)

    if not handler.request_streaming:
        return handler._replace(request_deserializer=read)
    behavior = handler.stream_stream or handler.stream_unary
    name = "stream_stream" if handler.stream_stream else "stream_unary"

    def started(requests, context):
        call.read = True
        return behavior(requests, context)
    return handler._replace(**{name: started})


class _Pool(futures.ThreadPoolExecutor):
    """gRPC's worker pool, telling `_GrpcRefusals` which call each submitted job is."""

    def __init__(self, workers: int, refusals: _GrpcRefusals):
        super().__init__(workers, thread_name_prefix="gnmi")
        self._refusals = refusals

    def submit(self, fn, /, *args, **kwargs):
        call = self._refusals.submitted()
        if call is None:
            return super().submit(fn, *args, **kwargs)

        def job():
            try:
                return fn(*args, **kwargs)
            finally:
                if not call.read:
                    self._refusals.unread()
        return super().submit(job)


class GnmiServer:
    """Serves gNMI on cfg.listen; `port` is the bound port (listen on :0 for a free one)."""

    def __init__(self, cfg: GnmiConfig, snapshot_fn: Callable[[], Snapshot], changes: Optional[ChangeFeed] = None,
                 catalogue: Catalogue = CATALOGUE):
        self.host, self.port = parse_listen(cfg.listen, "config: export.gnmi.listen")
        tls = cfg.tls
        if bool(tls.cert) != bool(tls.key):
            raise UserError("export.gnmi.tls: cert and key go together")
        if not is_loopback(self.host):
            if not tls.cert:
                raise UserError(f"export.gnmi: refusing plain text on {cfg.listen}, which is not loopback; "
                                "set export.gnmi.tls.cert and tls.key (or listen on 127.0.0.1)")
            if not (cfg.username or cfg.password or tls.client_ca):
                raise UserError(f"export.gnmi: refusing to serve {cfg.listen}, which is not loopback, to anyone: "
                                "set export.gnmi.username and password, or tls.client_ca")
        self._credentials = self._read_credentials(cfg)
        self._cfg = cfg
        self.service = GnmiService(snapshot_fn, cfg, catalogue)
        self._unsubscribe = changes(self.service.on_change) if changes is not None else None
        # Each open subscription holds a worker; UNARY_SLOTS more serve Get and Capabilities
        # however many subscriptions are open (the service admits each kind to its own room).
        workers = cfg.max_subscriptions + UNARY_SLOTS
        options = [("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                   ("grpc.max_send_message_length", cfg.max_response_bytes + (1 << 20)),
                   ("grpc.max_connection_idle_ms", int(cfg.idle_timeout_s * 1000)),
                   ("grpc.keepalive_time_ms", KEEPALIVE_S * 1000), ("grpc.keepalive_timeout_ms", 20_000),
                   ("grpc.max_concurrent_streams", cfg.max_subscriptions_per_client + UNARY_SLOTS)]
        self._refusals = _GrpcRefusals(self.service.count)
        self._server = grpc.server(_Pool(workers, self._refusals), interceptors=[self._refusals],
                                   maximum_concurrent_rpcs=workers + QUEUED_RPCS, options=options)
        register(self.service, self._server)
        self._log_filter = _OneLine(self.service)

    @staticmethod
    def _read_credentials(cfg: GnmiConfig) -> Optional[grpc.ServerCredentials]:
        tls = cfg.tls
        if not tls.cert:
            return None
        from .tls_files import certificates, key_pair  # cryptography (~7 MB resident) only with TLS
        key, chain = key_pair(tls.cert, tls.key, "export.gnmi.tls")
        ca = certificates(tls.client_ca, "export.gnmi.tls.client_ca") if tls.client_ca else None
        return grpc.ssl_server_credentials([(key, chain)], root_certificates=ca, require_client_auth=ca is not None)

    def start(self) -> "GnmiServer":
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:  # grpc answers a port it cannot bind with 0 or, in newer releases, RuntimeError
            if self._credentials is not None:
                self.port = self._server.add_secure_port(address, self._credentials)
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            raise UserError(f"export.gnmi.listen: cannot bind {self._cfg.listen}")
        for name in ("grpc._server", "grpc._common"):
            logging.getLogger(name).addFilter(self._log_filter)
        self._server.start()
        log.info("gnmi: serving on %s:%d (%s)", self.host, self.port,
                 "TLS" if self._credentials is not None else "plain text, loopback")
        return self

    def agent_counters(self) -> Dict[str, float]:
        """For Snapshot.agent: the Subscribe RPCs open now, and every refusal by kind."""
        self._refusals.settle()
        return self.service.counters()

    def stop(self, grace: float = 1.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._server.stop(grace).wait()
        for name in ("grpc._server", "grpc._common"):
            logging.getLogger(name).removeFilter(self._log_filter)
