"""The agent's one HTTP server layer (Prometheus /metrics, the job API): Python's http.server
parses, this module bounds.

Bounds, written once here, each refusal answered with its status and counted:
- connections served at once (`max_connections`) and from one peer address
  (`max_per_client`): one more is answered 503 by the accepting thread, without reading it;
- a request's whole time (`request_timeout_s`: request line, headers and body together, not
  per read): a client that trickles its request is answered 408 and closed when it runs out;
- the request head (`max_request_line`: 414; `max_head_bytes` for the line and headers
  together: 431) and the body (`max_body`: 413, before a byte of it is read);
- the answer's whole write (`response_timeout_s`); one request per connection (HTTP/1.0).
A slow client costs one thread and one slot for at most `request_timeout_s`; the kernel's
accept backlog is `BACKLOG`. The head is framed here (read up to its blank line), then parsed
by http.server; the body is read through the same deadline. TLS (optional) is negotiated in
the connection's thread under the request deadline; a refused TLS client is closed, not
answered (no handshake is made for it).
"""
from __future__ import annotations

import io
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, Optional, Tuple, Type

log = logging.getLogger("telegen.http")
BACKLOG = 64
POLL_S = 0.05  # how soon the accept loop sees shutdown()
COUNTERS = (  # (suffix, meaning): the agent counters `<server>_http_<suffix>` (catalogue.agent)
    ("connections", "Connections being served now."),
    ("refused_busy_total", "Connections answered 503: max_connections were being served."),
    ("refused_client_total", "Connections answered 503: max_per_client were open from that address."),
    ("timeouts_total", "Requests answered 408: not received whole within request_timeout_s."),
    ("evicted_total", "Connections still sending their request cut (408) to make room for a new one."),
    ("bodies_too_large_total", "Requests answered 413: a body over the server's limit."),
    ("heads_too_large_total", "Requests answered 414 or 431: request line or headers over their limit."),
)
SERVERS = ("prometheus", "jobs")  # every server this layer runs, for the catalogue


@dataclass(frozen=True)
class HttpLimits:
    max_connections: int = 16
    max_per_client: int = 4
    request_timeout_s: float = 5.0
    response_timeout_s: float = 10.0
    max_request_line: int = 8192
    max_head_bytes: int = 16384
    max_body: int = 0


class RequestTimeout(Exception):
    """The request did not arrive whole within the server's request_timeout_s."""


class HeadTooLarge(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _response(status: int, reason: str, body: bytes) -> bytes:
    return (b"HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (status, reason.encode(), len(body), body))


BUSY = _response(503, "Service Unavailable", b"too many connections, retry\n")
CLIENT_BUSY = _response(503, "Service Unavailable", b"too many connections from your address, retry\n")


class _DeadlineSocketReader(io.RawIOBase):
    """Reads the connection with one deadline for the whole request: what the head framing
    read past the blank line first, then the socket, each recv given the time left."""

    def __init__(self, sock: socket.socket, deadline: float, prefix: bytes):
        self._sock, self._deadline, self._prefix = sock, deadline, prefix

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n], self._prefix = self._prefix[:n], self._prefix[n:]
            return n
        return recv_before(self._sock, buffer, self._deadline)


def recv_before(sock: socket.socket, buffer, deadline: float) -> int:
    left = deadline - time.monotonic()
    if left <= 0:
        raise RequestTimeout()
    sock.settimeout(left)
    try:
        return sock.recv_into(buffer)
    except socket.timeout:
        raise RequestTimeout() from None


def read_head(sock: socket.socket, deadline: float, limits: HttpLimits) -> Tuple[bytes, bytes]:
    """(the head up to and including its blank line, what was read after it). Framing only:
    the head is parsed by http.server."""
    data = bytearray()
    chunk = bytearray(4096)
    while True:
        end = _head_end(data)
        first_line = data.find(b"\n")
        if (first_line < 0 and len(data) > limits.max_request_line) or first_line > limits.max_request_line:
            raise HeadTooLarge(414, "request line too long")
        if (end or len(data)) > limits.max_head_bytes:
            raise HeadTooLarge(431, "request headers too large")
        if end:
            return bytes(data[:end]), bytes(data[end:])
        n = recv_before(sock, chunk, deadline)
        if n == 0:
            raise ConnectionResetError("the request ended before its head did")
        data += chunk[:n]


def _head_end(data: bytearray) -> int:
    """Where the head ends (after its blank line), 0 while it has not."""
    ends = [i + len(mark) for mark in (b"\r\n\r\n", b"\n\n") for i in (data.find(mark),) if i >= 0]
    return min(ends) if ends else 0


class BoundedHandler(BaseHTTPRequestHandler):
    """A handler under the server's limits: subclasses write do_GET/do_POST/... as usual and
    take a body with `read_body()`."""

    server: "BoundedHTTPServer"

    def setup(self) -> None:
        self.deadline = time.monotonic() + self.server.limits.request_timeout_s
        super().setup()

    def handle(self) -> None:
        limits, server = self.server.limits, self.server
        try:
            if server.tls is not None:
                self.connection.settimeout(max(0.001, self.deadline - time.monotonic()))
                self.connection.do_handshake()
            head, rest = read_head(self.connection, self.deadline, limits)
            if not server.head_read(self.connection):
                raise ConnectionResetError("cut to make room")
            self.rfile = io.BufferedReader(_DeadlineSocketReader(self.connection, self.deadline, head + rest))
            self.raw_requestline = self.rfile.readline(limits.max_request_line + 1)
            self.close_connection = True
            if not self.parse_request():  # http.server answered (400, 431, 505, ...)
                return
            method = getattr(self, "do_" + self.command, None)
            self.connection.settimeout(limits.response_timeout_s)
            if method is None:
                self.send_error(501, f"unsupported method {self.command!r}")
                return
            method()
            self.wfile.flush()
        except RequestTimeout:
            server.count("timeouts_total")
            self._refuse(408, f"request not received within {limits.request_timeout_s:g} s")
        except ConnectionResetError:
            if server.was_evicted(self.connection):  # cut to make room: its read saw the end
                self._refuse(408, "request too slow while the server was full")
        except HeadTooLarge as exc:
            server.count("heads_too_large_total")
            self._refuse(exc.status, str(exc))
        except (OSError, ssl.SSLError) as exc:  # the client left, reset, or failed TLS
            log.debug("http: %s: connection ended: %s", server.name, exc)

    def _refuse(self, status: int, message: str) -> None:
        try:
            self.connection.settimeout(self.server.limits.response_timeout_s)
            if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":  # refused before parse_request
                self.request_version, self.requestline, self.command = "HTTP/1.0", "", ""
            self.send_error(status, message)
        except OSError:
            pass

    def read_body(self) -> Optional[bytes]:
        """The request body under the limits; None when refused (413/411 answered and counted)."""
        if self.headers.get("Transfer-Encoding"):
            self.send_error(411, "Content-Length required (no Transfer-Encoding)")
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.send_error(400, "Content-Length is not a number")
            return None
        if length < 0 or length > self.server.limits.max_body:
            self.server.count("bodies_too_large_total")
            self.send_error(413, f"body over {self.server.limits.max_body} bytes")
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            raise ConnectionResetError("client closed before its body was complete")
        self.connection.settimeout(self.server.limits.response_timeout_s)  # read done: the answer's time now
        return body

    def send_bytes(self, status: int, content_type: str, body: bytes, headers: Dict[str, str] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 (http.server's signature)
        log.debug(f"http {self.server.name}: " + format, *args)


class _Connection:
    """One connection's place in the server (keyed by its descriptor): its peer, and whether it
    is still sending its head (only those can be cut to make room)."""

    __slots__ = ("peer", "sock", "key", "reading")

    def __init__(self, peer: str, sock: socket.socket):
        self.peer, self.sock, self.key, self.reading = peer, sock, sock.fileno(), True


class BoundedHTTPServer(ThreadingHTTPServer):
    """One thread per connection, at most `limits.max_connections` of them and
    `limits.max_per_client` per peer address; counters in `counters()` (agent counters).

    When every slot is taken and a connection arrives, the oldest connection still sending its
    head is cut (408) and the newcomer takes its slot: a client that sends its request at once
    (milliseconds) is served however many slow ones come and go; only when every slot is
    serving a request already read is the newcomer answered 503."""

    daemon_threads = True
    request_queue_size = BACKLOG

    def __init__(self, name: str, address: Tuple[str, int], handler: Type[BoundedHandler], limits: HttpLimits,
                 tls: Optional[ssl.SSLContext] = None):
        self.name, self.limits, self.tls = name, limits, tls
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._lock = threading.Lock()
        self._connections: Dict[int, _Connection] = {}  # descriptor -> connection, oldest first
        self._stats = {suffix: 0 for suffix, _ in COUNTERS if suffix != "connections"}
        self._thread: Optional[threading.Thread] = None
        super().__init__(address, handler)

    def start(self) -> "BoundedHTTPServer":
        self._thread = threading.Thread(target=self.serve_forever, args=(POLL_S,), name=f"http-{self.name}",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def count(self, suffix: str) -> None:
        with self._lock:
            self._stats[suffix] += 1

    def counters(self) -> Dict[str, float]:
        with self._lock:
            out = {f"{self.name}_http_{suffix}": float(v) for suffix, v in self._stats.items()}
            out[f"{self.name}_http_connections"] = float(len(self._connections))
        return out

    def head_read(self, sock: socket.socket) -> bool:
        """The connection's head is in: it is no longer one to cut. False if it was cut already."""
        with self._lock:
            conn = self._connections.get(sock.fileno())
            if conn is not None:
                conn.reading = False
            return conn is not None

    def was_evicted(self, sock: socket.socket) -> bool:
        with self._lock:
            return sock.fileno() not in self._connections  # the descriptor is ours while we serve it

    def process_request(self, request, client_address) -> None:
        peer = client_address[0]
        with self._lock:
            refusal = self._admit(peer, request)
            conn = self._connections.get(request.fileno())
        if refusal is not None:
            if self.tls is None:
                try:
                    request.setblocking(False)
                    request.send(refusal)  # a fresh socket's empty send buffer takes it whole
                except OSError:
                    pass  # the client left already; counted all the same
            self.shutdown_request(request)
            return
        if self.tls is not None:
            request = self.tls.wrap_socket(request, server_side=True, do_handshake_on_connect=False)
            with self._lock:  # the same descriptor, now the TLS socket's
                conn.sock = request
        try:
            threading.Thread(target=self._serve, args=(request, client_address, conn), daemon=True).start()
        except BaseException:
            self._release(conn)
            raise

    def _admit(self, peer: str, request: socket.socket) -> Optional[bytes]:
        """Under the lock: take a slot for the connection (cutting the oldest reader when full),
        or the refusal to send."""
        if sum(c.peer == peer for c in self._connections.values()) >= self.limits.max_per_client:
            self._stats["refused_client_total"] += 1
            return CLIENT_BUSY
        if len(self._connections) >= self.limits.max_connections:
            victim = next((c for c in self._connections.values() if c.reading), None)
            if victim is None:
                self._stats["refused_busy_total"] += 1
                return BUSY
            self._evict(victim)
        self._connections[request.fileno()] = _Connection(peer, request)
        return None

    def _evict(self, conn: _Connection) -> None:
        """Free the slot now; the connection's thread finds its read cut and answers 408."""
        del self._connections[conn.key]
        conn.reading = False
        self._stats["evicted_total"] += 1
        try:
            conn.sock.shutdown(socket.SHUT_RD)
        except OSError:
            pass

    def _serve(self, request, client_address, conn: _Connection) -> None:
        try:
            self.process_request_thread(request, client_address)  # handles, then closes
        finally:
            self._release(conn)

    def _release(self, conn: _Connection) -> None:
        with self._lock:
            if self._connections.get(conn.key) is conn:  # not if evicted (a newer one may hold the number)
                del self._connections[conn.key]

    def handle_error(self, request, client_address) -> None:
        log.exception("http %s: handler failed for %s", self.name, client_address[0])
