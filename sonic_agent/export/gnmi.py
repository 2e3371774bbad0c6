"""gNMI server on grpcio: Capabilities, Get and Subscribe over the Snapshot (paths: gnmi_paths).

Stubs: the gNMI 0.8.0 stubs that pygnmi ships (`pygnmi.spec.v080`, generated from the
OpenConfig proto, with the servicer). Encodings JSON and JSON_IETF. Security: TLS with
`tls.cert`/`tls.key`, and mTLS when `tls.client_ca` is set; when `username`/`password` are
configured every call must carry them as metadata (else UNAUTHENTICATED). Plain text is
served only on a loopback address; anything else without a certificate is refused at start.
Set is not offered (UNIMPLEMENTED).
"""
from __future__ import annotations

import hmac
import logging
import threading
from concurrent import futures
from pathlib import Path
from typing import Callable, Dict, Optional, Protocol, Set

import grpc
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from .. import __version__
from ..config import GnmiConfig
from ..errors import UserError
from ..listen import is_loopback, parse_listen
from ..records import Snapshot
from ..catalogue import CATALOGUE, Catalogue
from .gnmi_paths import from_proto, leaves, path_text, to_proto, typed_value
from .gnmi_subscribe import Wakeup, run_subscription, timestamp_ns

log = logging.getLogger(__name__)
GNMI_VERSION = "0.8.0"
UNARY_WORKERS = 8
ENCODINGS = (gnmi_pb2.JSON, gnmi_pb2.JSON_IETF)
MODELS = [gnmi_pb2.ModelData(name="openconfig-interfaces", organization="OpenConfig working group", version="3.0.0"),
          gnmi_pb2.ModelData(name="openconfig-if-aggregate", organization="OpenConfig working group"),
          gnmi_pb2.ModelData(name="openconfig-qos", organization="OpenConfig working group"),
          gnmi_pb2.ModelData(name="telegen-sonic", organization="telegen-sonic", version=__version__)]


class ChangeFeed(Protocol):
    """`subscribe(callback) -> unsubscribe`: `callback(anything)` is called, from any thread,
    whenever `snapshot_fn()` has something new (the pipeline's SnapshotFeed.subscribe: each tick
    and each model change)."""

    def __call__(self, callback: Callable[[object], None]) -> Callable[[], None]: ...


class GnmiService(gnmi_pb2_grpc.gNMIServicer):
    def __init__(self, snapshot_fn: Callable[[], Snapshot], username: Optional[str], password: Optional[str],
                 catalogue: Catalogue = CATALOGUE, max_subscriptions: int = 64):
        self._snapshot_fn = snapshot_fn
        self._catalogue = catalogue
        self._max_subscriptions = max_subscriptions
        self.refused = 0
        self._credentials = (username or "", password or "") if (username or password) else None
        self._lock = threading.Lock()
        self._streams: Set[Wakeup] = set()

    def on_change(self, _news: object = None) -> None:
        """Something new: every stream looks at the current Snapshot (ON_CHANGE ones re-diff)."""
        with self._lock:
            streams = list(self._streams)
        for wakeup in streams:
            wakeup.change()

    def active_streams(self) -> int:
        with self._lock:
            return len(self._streams)

    def _authorize(self, context: grpc.ServicerContext) -> None:
        if self._credentials is None:
            return
        metadata = dict(context.invocation_metadata())
        given = (metadata.get("username", ""), metadata.get("password", ""))
        if not all(hmac.compare_digest(a.encode(), b.encode()) for a, b in zip(given, self._credentials)):
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "wrong or missing username/password metadata")

    def _check_encoding(self, encoding: int, context: grpc.ServicerContext) -> None:
        if encoding not in ENCODINGS:
            context.abort(grpc.StatusCode.UNIMPLEMENTED,
                          f"encoding {gnmi_pb2.Encoding.Name(encoding)} not supported (JSON, JSON_IETF)")

    def Capabilities(self, request, context):  # noqa: N802 (gNMI's names)
        self._authorize(context)
        return gnmi_pb2.CapabilityResponse(supported_models=MODELS, supported_encodings=ENCODINGS,
                                           gNMI_version=GNMI_VERSION)

    def Get(self, request, context):  # noqa: N802
        self._authorize(context)
        self._check_encoding(request.encoding, context)
        snap = self._snapshot_fn()
        notifications = []
        for path in list(request.path) or [gnmi_pb2.Path()]:
            pattern = from_proto(request.prefix, path)
            found = [gnmi_pb2.Update(path=to_proto(p), val=typed_value(leaf, request.encoding))
                     for p, leaf in (leaves(snap, [pattern], self._catalogue).items()
                                     if request.type != gnmi_pb2.GetRequest.CONFIG else ())]
            if not found:
                context.abort(grpc.StatusCode.NOT_FOUND, f"no data at {path_text(pattern)}")
            notifications.append(gnmi_pb2.Notification(timestamp=timestamp_ns(snap), update=found))
        return gnmi_pb2.GetResponse(notification=notifications)

    def Subscribe(self, request_iterator, context):  # noqa: N802
        self._authorize(context)
        first = next(request_iterator, None)
        if first is None or not first.HasField("subscribe") or not first.subscribe.subscription:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first SubscribeRequest must hold a subscription list")
        request = first.subscribe
        self._check_encoding(request.encoding, context)
        patterns = [from_proto(request.prefix, s.path) for s in request.subscription]
        wakeup = Wakeup()
        with self._lock:
            full = len(self._streams) >= self._max_subscriptions
            if full:
                self.refused += 1
            else:
                self._streams.add(wakeup)
        if full:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED,
                          f"at most {self._max_subscriptions} subscriptions (export.gnmi.max_subscriptions)")
        context.add_callback(wakeup.end)
        poll_mode = request.mode == gnmi_pb2.SubscriptionList.POLL
        threading.Thread(target=_read_polls, args=(request_iterator, wakeup, poll_mode), daemon=True).start()
        try:
            yield from run_subscription(request, patterns, self._snapshot_fn, wakeup, self._catalogue)
        finally:
            with self._lock:
                self._streams.discard(wakeup)


def _read_polls(request_iterator, wakeup: Wakeup, end_on_close: bool) -> None:
    """Turn the client's further requests into polls; in POLL mode its half-close ends the RPC
    (a STREAM goes on until cancelled, as in the reference implementation)."""
    try:
        for request in request_iterator:
            if request.HasField("poll"):
                wakeup.poll()
    except grpc.RpcError:
        pass  # cancelled: the context callback ends the stream
    if end_on_close:
        wakeup.end()


class GnmiServer:
    """Serves gNMI on cfg.listen; `port` is the bound port (listen on :0 for a free one)."""

    def __init__(self, cfg: GnmiConfig, snapshot_fn: Callable[[], Snapshot], changes: Optional[ChangeFeed] = None,
                 catalogue: Catalogue = CATALOGUE):
        self.host, self.port = parse_listen(cfg.listen, "config: export.gnmi.listen")
        tls = cfg.tls
        if bool(tls.cert) != bool(tls.key):
            raise UserError("export.gnmi.tls: cert and key go together")
        if not tls.cert and not is_loopback(self.host):
            raise UserError(f"export.gnmi: refusing plain text on {cfg.listen}, which is not loopback; "
                            "set export.gnmi.tls.cert and tls.key (or listen on 127.0.0.1)")
        self._cfg = cfg
        self.service = GnmiService(snapshot_fn, cfg.username, cfg.password, catalogue, cfg.max_subscriptions)
        self._unsubscribe = changes(self.service.on_change) if changes is not None else None
        # Each open subscription holds a worker; UNARY_WORKERS more serve Get and Capabilities
        # however many subscriptions are open. Past them all, gRPC answers RESOURCE_EXHAUSTED.
        workers = cfg.max_subscriptions + UNARY_WORKERS
        self._server = grpc.server(futures.ThreadPoolExecutor(workers, thread_name_prefix="gnmi"),
                                   maximum_concurrent_rpcs=workers)
        gnmi_pb2_grpc.add_gNMIServicer_to_server(self.service, self._server)

    def start(self) -> "GnmiServer":
        tls = self._cfg.tls
        address = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        try:  # grpc answers a port it cannot bind with 0 or, in newer releases, RuntimeError
            if tls.cert:
                creds = grpc.ssl_server_credentials(
                    [(_read(tls.key), _read(tls.cert))],
                    root_certificates=_read(tls.client_ca) if tls.client_ca else None,
                    require_client_auth=bool(tls.client_ca))
                self.port = self._server.add_secure_port(address, creds)
            else:
                self.port = self._server.add_insecure_port(address)
        except RuntimeError:
            self.port = 0
        if not self.port:
            raise UserError(f"export.gnmi.listen: cannot bind {self._cfg.listen}")
        self._server.start()
        log.info("gnmi: serving on %s:%d (%s)", self.host, self.port, "TLS" if tls.cert else "plain text, loopback")
        return self

    def agent_counters(self) -> Dict[str, float]:
        """For Snapshot.agent: the Subscribe RPCs open now, and those refused."""
        return {"gnmi_subscriptions": float(self.service.active_streams()),
                "gnmi_subscriptions_refused_total": float(self.service.refused)}

    def stop(self, grace: float = 1.0) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._server.stop(grace).wait()


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UserError(f"export.gnmi.tls: cannot read {path}: {exc.strerror}") from None
