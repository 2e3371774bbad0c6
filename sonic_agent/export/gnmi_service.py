"""The gNMI servicer: Capabilities, Get and Subscribe over the Snapshot, each call guarded.

Every call is admitted (gnmi_guard: per client and in total), authenticated (failed logins
counted, logged and throttled), and checked before any work: a known encoding (an unknown
value is INVALID_ARGUMENT, JSON and JSON_IETF are served, the others UNIMPLEMENTED), at most
`max_paths` paths or subscriptions, paths of at most `MAX_PATH_ELEMS` elements of at most
`MAX_KEYS` keys. A Get's reply stops at `max_response_bytes` (RESOURCE_EXHAUSTED; it is built
as serialized bytes, so the cap bounds its memory), a client's replies may take that much per
10 s, and a Get's work stops when the client's deadline passes or it cancels. A Subscribe holds its place from the
start: its first request must come within `first_request_timeout_s`, a POLL subscription
without a poll for `idle_timeout_s` ends (both DEADLINE_EXCEEDED). Set is UNIMPLEMENTED. Every
refusal is counted and logged as one rate-limited line; an unexpected error is INTERNAL, one
line, no traceback.
"""
from __future__ import annotations

import contextlib
import hmac
import logging
import threading
from typing import Callable, Dict, Iterator, Optional, Set

import grpc
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from .. import __version__
from ..catalogue import CATALOGUE, Catalogue
from ..config import GnmiConfig
from ..records import Snapshot
from .gnmi_guard import (COUNTERS, UNARY_PER_CLIENT, UNARY_SLOTS, Admission, LoginThrottle, LogLimiter, ReplyBudget,
                         client_of)
from .gnmi_paths import Pattern, from_proto, leaves, path_text, to_proto, typed_value
from .gnmi_subscribe import IdleTimeout, Wakeup, run_subscription, timestamp_ns

log = logging.getLogger("sonic_agent.export.gnmi")
GNMI_VERSION = "0.8.0"
ENCODINGS = (gnmi_pb2.JSON, gnmi_pb2.JSON_IETF)
MAX_PATH_ELEMS = 64
MAX_KEYS = 16
UPDATES_PER_CHUNK = 500
GET_NOTIFICATION = gnmi_pb2.GetResponse.DESCRIPTOR.fields_by_name["notification"].number
MODELS = [gnmi_pb2.ModelData(name="openconfig-interfaces", organization="OpenConfig working group", version="3.0.0"),
          gnmi_pb2.ModelData(name="openconfig-if-aggregate", organization="OpenConfig working group"),
          gnmi_pb2.ModelData(name="openconfig-qos", organization="OpenConfig working group"),
          gnmi_pb2.ModelData(name="telegen-sonic", organization="telegen-sonic", version=__version__)]


class GnmiService(gnmi_pb2_grpc.gNMIServicer):
    def __init__(self, snapshot_fn: Callable[[], Snapshot], cfg: GnmiConfig, catalogue: Catalogue = CATALOGUE):
        self._snapshot_fn = snapshot_fn
        self._cfg = cfg
        self._catalogue = catalogue
        self._credentials = (cfg.username or "", cfg.password or "") if (cfg.username or cfg.password) else None
        self._stream_room = Admission(cfg.max_subscriptions, cfg.max_subscriptions_per_client)
        self._unary_room = Admission(UNARY_SLOTS, UNARY_PER_CLIENT)
        self._logins = LoginThrottle()
        self._replies = ReplyBudget(cfg.max_response_bytes)
        self._lock = threading.Lock()
        self._counters: Dict[str, int] = dict.fromkeys(COUNTERS, 0)
        self.log = LogLimiter(log, lambda: self.count("gnmi_log_lines_suppressed_total"))
        self._streams: Set[Wakeup] = set()

    def count(self, name: str) -> None:
        with self._lock:
            self._counters[name] += 1

    def counters(self) -> Dict[str, float]:
        with self._lock:
            out = {name: float(n) for name, n in self._counters.items()}
        out["gnmi_subscriptions"] = float(self._stream_room.open())
        return out

    def on_change(self, _news: object = None) -> None:
        """Something new: every stream looks at the current Snapshot (ON_CHANGE ones re-diff)."""
        with self._lock:
            streams = list(self._streams)
        for wakeup in streams:
            wakeup.change()

    def _refuse(self, context, code: grpc.StatusCode, counter: str, message: str, client: str) -> None:
        self.count(counter)
        self.log.warning(counter, f"{message} ({code.name}, client {client})")
        context.abort(code, message)

    @contextlib.contextmanager
    def _call(self, context, room: Admission, method: str) -> Iterator[str]:
        """Admits, authenticates and guards one call; yields the client."""
        client = client_of(context.peer())
        why = room.enter(client)
        if why == "client":
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "gnmi_refused_client_limit_total",
                         f"{method}: this client has {room.per_client} such calls open", client)
        elif why == "total":
            counter = "gnmi_subscriptions_refused_total" if room is self._stream_room else "gnmi_refused_busy_total"
            limit = " (export.gnmi.max_subscriptions)" if room is self._stream_room else ""
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, counter,
                         f"{method}: at most {room.total} such calls at once{limit}", client)
        try:
            self._authenticate(context, client)
            yield client
        except Exception as exc:
            if context.code() is not None:  # an abort: already answered and counted
                raise
            self.count("gnmi_internal_errors_total")
            self.log.warning("internal", f"{method} failed: {type(exc).__name__}: {str(exc)[:200]} (client {client})")
            context.abort(grpc.StatusCode.INTERNAL, f"{method} failed: {type(exc).__name__}")
        finally:
            room.leave(client)

    def _authenticate(self, context, client: str) -> None:
        if self._credentials is None:
            return
        wait = self._logins.wait_s(client)
        if wait > 0:
            self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, "gnmi_logins_throttled_total",
                         f"too many failed logins: retry in {wait:.0f} s", client)
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        given = (metadata.get("username", ""), metadata.get("password", ""))
        if all(hmac.compare_digest(a.encode(), b.encode()) for a, b in zip(given, self._credentials)):
            self._logins.succeeded(client)
            return
        failures = self._logins.failed(client)
        self._refuse(context, grpc.StatusCode.UNAUTHENTICATED, "gnmi_login_failures_total",
                     f"failed login as {given[0][:40]!r} ({failures} in a row)", client)

    def _check_encoding(self, encoding: int, context, client: str) -> None:
        if encoding in ENCODINGS:
            return
        if encoding not in gnmi_pb2.Encoding.values():
            self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "gnmi_invalid_requests_total",
                         f"encoding {encoding} is not a gNMI encoding", client)
        self._refuse(context, grpc.StatusCode.UNIMPLEMENTED, "gnmi_unimplemented_total",
                     f"encoding {gnmi_pb2.Encoding.Name(encoding)} not supported (JSON, JSON_IETF)", client)

    def _patterns(self, prefix, paths, context, client: str, what: str):
        if len(paths) > self._cfg.max_paths:
            self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "gnmi_refused_too_many_paths_total",
                         f"{len(paths)} {what}, at most {self._cfg.max_paths} (export.gnmi.max_paths)", client)
        out = []
        for path in paths:
            elems = list(prefix.elem) + list(path.elem)
            if len(elems) > MAX_PATH_ELEMS or any(len(e.key) > MAX_KEYS for e in elems):
                self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "gnmi_invalid_requests_total",
                             f"a path of at most {MAX_PATH_ELEMS} elements of at most {MAX_KEYS} keys", client)
            out.append(from_proto(prefix, path))
        return out

    def Capabilities(self, request, context):  # noqa: N802 (gNMI's names)
        with self._call(context, self._unary_room, "Capabilities"):
            return gnmi_pb2.CapabilityResponse(supported_models=MODELS, supported_encodings=ENCODINGS,
                                               gNMI_version=GNMI_VERSION)

    def Get(self, request, context):  # noqa: N802
        with self._call(context, self._unary_room, "Get") as client:
            self._check_encoding(request.encoding, context, client)
            patterns = self._patterns(request.prefix, list(request.path) or [gnmi_pb2.Path()], context, client, "paths")
            wait = self._replies.wait_s(client)
            if wait > 0:
                self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED, "gnmi_refused_reply_budget_total",
                             f"Get: this client's replies used {self._cfg.max_response_bytes} bytes in the last "
                             f"10 s (export.gnmi.max_response_bytes): retry in {wait:.1f} s", client)
            snap = self._snapshot_fn()
            found: Dict[Pattern, bytes] = {}  # a path asked twice is built once
            notifications, size = [], 0
            try:
                for pattern in patterns:
                    if not context.is_active():  # the client's deadline passed, or it left: stop the work
                        self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "gnmi_deadline_exceeded_total",
                                     "Get: the client's deadline passed", client)
                    if pattern not in found:
                        found[pattern] = self._updates(snap, pattern, request, self._cfg.max_response_bytes - size)
                    if not found[pattern]:
                        context.abort(grpc.StatusCode.NOT_FOUND, f"no data at {path_text(pattern)}")
                    notification = gnmi_pb2.Notification(timestamp=timestamp_ns(snap)).SerializeToString() + \
                        found[pattern]
                    size += len(notification)
                    if size > self._cfg.max_response_bytes:
                        self._refuse(context, grpc.StatusCode.RESOURCE_EXHAUSTED,
                                     "gnmi_refused_response_too_large_total",
                                     f"Get: the reply exceeds {self._cfg.max_response_bytes} bytes "
                                     "(export.gnmi.max_response_bytes): ask for less", client)
                    notifications.append(_field(GET_NOTIFICATION, notification))
            finally:
                self._replies.spend(client, size)
            return b"".join(notifications)  # a serialized GetResponse (see register)

    def _updates(self, snap: Snapshot, pattern: Pattern, request, room: int) -> bytes:
        """The Updates under `pattern` serialized as a Notification's update field, built
        UPDATES_PER_CHUNK at a time (serialized bytes, not message objects, are what is kept:
        a message holds ten times its bytes) until they exceed `room` bytes."""
        if request.type == gnmi_pb2.GetRequest.CONFIG:
            return b""
        chunks, size, pending = [], 0, []
        for p, leaf in leaves(snap, [pattern], self._catalogue).items():
            pending.append(gnmi_pb2.Update(path=to_proto(p), val=typed_value(leaf, request.encoding)))
            if len(pending) == UPDATES_PER_CHUNK:
                chunks.append(gnmi_pb2.Notification(update=pending).SerializeToString())
                size, pending = size + len(chunks[-1]), []
                if size > room:
                    break
        if pending:
            chunks.append(gnmi_pb2.Notification(update=pending).SerializeToString())
        return b"".join(chunks)  # serialized messages concatenated are one message, merged

    def Set(self, request, context):  # noqa: N802
        with self._call(context, self._unary_room, "Set") as client:
            self._refuse(context, grpc.StatusCode.UNIMPLEMENTED, "gnmi_unimplemented_total",
                         "Set is not offered (telemetry only)", client)

    def Subscribe(self, request_iterator, context):  # noqa: N802
        with self._call(context, self._stream_room, "Subscribe") as client:
            wakeup = Wakeup()
            requests = _Requests(request_iterator, wakeup)
            first = requests.first(self._cfg.first_request_timeout_s)
            if first is None and not requests.closed:
                self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "gnmi_first_request_timeouts_total",
                             f"no SubscribeRequest within {self._cfg.first_request_timeout_s:g} s", client)
            if first is None or not first.HasField("subscribe") or not first.subscribe.subscription:
                self._refuse(context, grpc.StatusCode.INVALID_ARGUMENT, "gnmi_invalid_requests_total",
                             "the first SubscribeRequest must hold a subscription list", client)
            request = first.subscribe
            self._check_encoding(request.encoding, context, client)
            patterns = self._patterns(request.prefix, [s.path for s in request.subscription], context, client,
                                      "subscriptions")
            poll = request.mode == gnmi_pb2.SubscriptionList.POLL
            requests.end_on_close(poll)
            with self._lock:
                self._streams.add(wakeup)
            context.add_callback(wakeup.end)
            try:
                yield from run_subscription(request, patterns, self._snapshot_fn, wakeup, self._catalogue,
                                            idle_s=self._cfg.idle_timeout_s if poll else None)
            except IdleTimeout:
                self._refuse(context, grpc.StatusCode.DEADLINE_EXCEEDED, "gnmi_idle_timeouts_total",
                             f"no poll within {self._cfg.idle_timeout_s:g} s", client)
            finally:
                with self._lock:
                    self._streams.discard(wakeup)


def _field(number: int, data: bytes) -> bytes:
    """A length-delimited protobuf field: its key, its length, its bytes."""
    return _varint(number << 3 | 2) + _varint(len(data)) + data


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | 0x80 if n else byte)
        if not n:
            return bytes(out)


def register(service: GnmiService, server: grpc.Server) -> None:
    """The gNMI service on `server`, as pygnmi's stubs add it, but for Get, whose reply is
    assembled from serialized notifications and goes out as it is."""
    handlers = {
        "Capabilities": grpc.unary_unary_rpc_method_handler(
            service.Capabilities, request_deserializer=gnmi_pb2.CapabilityRequest.FromString,
            response_serializer=gnmi_pb2.CapabilityResponse.SerializeToString),
        "Get": grpc.unary_unary_rpc_method_handler(
            service.Get, request_deserializer=gnmi_pb2.GetRequest.FromString, response_serializer=bytes),
        "Set": grpc.unary_unary_rpc_method_handler(
            service.Set, request_deserializer=gnmi_pb2.SetRequest.FromString,
            response_serializer=gnmi_pb2.SetResponse.SerializeToString),
        "Subscribe": grpc.stream_stream_rpc_method_handler(
            service.Subscribe, request_deserializer=gnmi_pb2.SubscribeRequest.FromString,
            response_serializer=gnmi_pb2.SubscribeResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("gnmi.gNMI", handlers),))


class _Requests:
    """A Subscribe's requests, read on a thread of their own: the first one is waited for with a
    deadline, later polls wake the stream, and a half-close ends a POLL RPC (a STREAM goes on
    until cancelled, as in the reference implementation)."""

    def __init__(self, iterator, wakeup: Wakeup):
        self._iterator, self._wakeup = iterator, wakeup
        self._first: Optional[gnmi_pb2.SubscribeRequest] = None
        self._cond = threading.Condition()
        self._got_first = False
        self.closed = False
        self._end_on_close = False
        threading.Thread(target=self._read, name="gnmi-requests", daemon=True).start()

    def first(self, timeout: float) -> Optional[gnmi_pb2.SubscribeRequest]:
        with self._cond:
            self._cond.wait_for(lambda: self._got_first or self.closed, timeout)
            return self._first

    def end_on_close(self, yes: bool) -> None:
        with self._cond:
            self._end_on_close = yes
            closed = self.closed
        if yes and closed:
            self._wakeup.end()

    def _read(self) -> None:
        try:
            for request in self._iterator:
                with self._cond:
                    if not self._got_first:
                        self._first, self._got_first = request, True
                        self._cond.notify_all()
                        continue
                if request.HasField("poll"):
                    self._wakeup.poll()
        except grpc.RpcError:
            pass  # cancelled: the context callback ends the stream
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            end = self._end_on_close
        if end:
            self._wakeup.end()
