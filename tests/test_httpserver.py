"""The agent's bounded HTTP layer (sonic_agent.httpserver): each bound refused with its status and
counted, and the slowloris attack of issue 13 against the real /metrics endpoint: trickling
connections are cut at the request deadline while a real client keeps getting 200s."""
from __future__ import annotations

import socket
import threading
import time

import pytest
import requests

from sonic_agent.config import PrometheusConfig
from sonic_agent.export.prometheus import LIMITS, PrometheusExporter
from sonic_agent.httpserver import BoundedHandler, BoundedHTTPServer, HttpLimits
from tests.conftest import assert_catalogued, wait_until
from tests.export.sample import sample_snapshot


class Echo(BoundedHandler):
    release = threading.Event()  # GET waits for it: a request being served holds its slot
    serving = []  # one entry per GET being served

    def do_POST(self) -> None:  # noqa: N802
        body = self.read_body()
        if body is not None:
            self.send_bytes(200, "application/octet-stream", body)

    def do_GET(self) -> None:  # noqa: N802
        self.serving.append(self)
        self.release.wait(10)
        self.send_bytes(200, "text/plain", b"done")


def echo_server(request_timeout_s: float) -> BoundedHTTPServer:
    return BoundedHTTPServer("jobs", ("127.0.0.1", 0), Echo, HttpLimits(
        max_connections=4, max_per_client=2, request_timeout_s=request_timeout_s, max_request_line=100,
        max_head_bytes=400, max_body=1000)).start()


@pytest.fixture
def echo():
    server = echo_server(1.0)
    yield server
    server.stop()


def exchange(port: int, data: bytes, source: str = "127.0.0.1") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(data)
        return read_all(sock)


def read_all(sock: socket.socket) -> bytes:
    out = b""
    while chunk := sock.recv(65536):
        out += chunk
    return out


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def test_each_bound_answers_its_status_and_is_counted(echo):
    port = echo.server_port
    assert exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc").endswith(b"\r\n\r\nabc")
    assert status(exchange(port, b"POST /" + b"x" * 200 + b" HTTP/1.1\r\n\r\n")) == 414
    assert status(exchange(port, b"POST / HTTP/1.1\r\n" + b"X-Pad: yyyyyyyy\r\n" * 40 + b"\r\n")) == 431
    assert status(exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\n")) == 413
    assert status(exchange(port, b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")) == 408  # body never whole
    assert status(exchange(port, b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")) == 411
    assert wait_until(lambda: echo.counters()["jobs_http_connections"] == 0)  # each thread let its slot go
    counters = echo.counters()
    assert_catalogued(counters)
    assert counters == {"jobs_http_refused_busy_total": 0, "jobs_http_refused_client_total": 0,
                        "jobs_http_timeouts_total": 1, "jobs_http_evicted_total": 0,
                        "jobs_http_bodies_too_large_total": 1, "jobs_http_heads_too_large_total": 2,
                        "jobs_http_connections": 0}


@pytest.fixture
def patient_echo():
    server = echo_server(20.0)  # no connection here runs out of time: only the bounds act
    yield server
    server.stop()


def test_connections_are_bounded_in_all_and_per_client(patient_echo):
    """Per address at most 2 (503 at once); when all 4 slots are taken, the oldest connection
    still sending its head is cut (408) for the newcomer; when all 4 are serving, 503."""
    echo = patient_echo
    port = echo.server_port
    Echo.release.clear()
    Echo.serving.clear()
    held = [socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0)) for _ in range(2)]
    try:
        assert wait_until(lambda: echo.counters()["jobs_http_connections"] == 2)
        refused = exchange(port, b"", source="127.0.0.2")  # the answer comes before any request
        assert status(refused) == 503 and b"your address" in refused
        held += [socket.create_connection(("127.0.0.1", port), source_address=(f"127.0.0.{a}", 0)) for a in (3, 4)]
        assert wait_until(lambda: echo.counters()["jobs_http_connections"] == 4)
        serving = [socket.create_connection(("127.0.0.1", port), source_address=(f"127.0.0.{a}", 0))
                   for a in (5, 6, 7, 8)]
        for sock in serving:
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        for sock in held:  # each newcomer cut one of the idle ones
            assert status(sock.recv(100)) == 408
        assert wait_until(lambda: len(Echo.serving) == 4)
        assert status(exchange(port, b"", source="127.0.0.9")) == 503  # nothing left to cut
        Echo.release.set()
        for sock in serving:
            assert read_all(sock).endswith(b"done")
            sock.close()
    finally:
        Echo.release.set()
        for sock in held:
            sock.close()
    counters = echo.counters()
    assert (counters["jobs_http_refused_client_total"], counters["jobs_http_evicted_total"],
            counters["jobs_http_refused_busy_total"]) == (1, 4, 1)
    assert wait_until(lambda: echo.counters()["jobs_http_connections"] == 0)


def trickle(port: int, source: str, stop: threading.Event, answers: list) -> None:
    """A slowloris client: a header line every 0.3 s, never the blank line; keeps what it got."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0)) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            sock.setblocking(False)
            got = b""
            while not stop.wait(0.3):
                try:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                except BlockingIOError:
                    pass
                try:
                    sock.send(b"X-Trickle: 1\r\n")
                except OSError:
                    break
            answers.append((got, time.monotonic()))
    except OSError as exc:
        answers.append((repr(exc).encode(), time.monotonic()))


def test_slowloris_does_not_starve_a_real_scraper():
    """Issue 13: 4 connections trickling header lines made every scrape fail (503) for a minute.
    Now 8 tricklers from two addresses (the per-client cap of 4 each) hold half the slots for at
    most the 5 s request deadline, then get 408; a scrape every 50 ms meanwhile gets 200 each
    time, and a 5th trickler from a full address is refused at once. (With every slot taken by
    tricklers, a scrape cuts the oldest: tests above, bench/http_bounds.py.)"""
    exporter = PrometheusExporter(PrometheusConfig(listen="127.0.0.1:0"), lambda: sample_snapshot()).start()
    stop, answers = threading.Event(), []
    sources = ["127.0.0.2"] * LIMITS.max_per_client + ["127.0.0.3"] * LIMITS.max_per_client
    threads = [threading.Thread(target=trickle, args=(exporter.port, s, stop, answers)) for s in sources]
    try:
        started = time.monotonic()
        for t in threads:
            t.start()
        assert wait_until(lambda: exporter.agent_counters()["prometheus_http_connections"] == len(sources), 5)
        assert status(exchange(exporter.port, b"", source="127.0.0.2")) == 503
        codes = []
        while time.monotonic() - started < LIMITS.request_timeout_s + 1.5:
            codes.append(requests.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=5).status_code)
            stop.wait(0.05)
        assert wait_until(lambda: len(answers) == len(sources) or None, 5)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        counters = exporter.agent_counters()
        exporter.stop()
    assert len(codes) >= 50 and set(codes) == {200}, codes
    for got, ended in answers:  # every trickler was cut at the deadline, not when we stopped
        assert got.startswith(b"HTTP/1.0 408"), got[:80]
        assert ended - started < LIMITS.request_timeout_s + 1.0
    assert counters["prometheus_http_timeouts_total"] == len(sources)
    assert counters["prometheus_http_refused_client_total"] == 1
    assert counters["prometheus_http_refused_busy_total"] == 0
