"""The gNMI server under attack, each attack reproduced as filed: while it runs a legitimate
client (another address: the server listens on localhost, 127.0.0.1 and ::1; the attacker
comes from ::1) is served, every refusal has the right status and is counted, and nothing
logs a traceback. CPU and memory during each attack: bench/gnmi_attacks.py."""
from __future__ import annotations

import json
import logging
import threading

import grpc
import pytest
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.config import GnmiConfig, ServerTlsConfig
from sonic_agent.errors import UserError
from sonic_agent.export import gnmi_paths
from sonic_agent.export.gnmi import GnmiServer
from sonic_agent.export.gnmi_guard import FREE_FAILURES
from tests.conftest import assert_catalogued, wait_until
from tests.export.certs import make_certs
from tests.export.sample import sample_snapshot

AUTH = (("username", "admin"), ("password", "s3cret"))
SYSTEM = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="system")])


def path(*names: str) -> gnmi_pb2.Path:
    return gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name=n) for n in names])


def subscribe_request(p=SYSTEM, mode=gnmi_pb2.SubscriptionList.STREAM) -> gnmi_pb2.SubscribeRequest:
    return gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
        subscription=[gnmi_pb2.Subscription(path=p, mode=gnmi_pb2.ON_CHANGE)], mode=mode, encoding=gnmi_pb2.JSON))


@pytest.fixture
def snapshot():
    return sample_snapshot(ports=32, flows=100)


@pytest.fixture
def make_server(snapshot):
    servers = []

    def make(**overrides):
        settings = dict(enabled=True, listen="localhost:0", username="admin", password="s3cret",
                        max_subscriptions=16, first_request_timeout_s=1.0, idle_timeout_s=1.0)
        cfg = GnmiConfig(**{**settings, **overrides})
        server = GnmiServer(cfg, lambda: snapshot).start()
        servers.append(server)
        return server
    yield make
    for server in servers:
        server.stop(0)


class Client:
    """A gRPC client from one address: 127.0.0.1 (the legitimate one) or ::1 (the attacker)."""

    def __init__(self, server: GnmiServer, host: str):
        target = f"[{host}]:{server.port}" if ":" in host else f"{host}:{server.port}"
        self.channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1),
                                                              ("grpc.max_receive_message_length", 64 << 20)])
        self.stub = gnmi_pb2_grpc.gNMIStub(self.channel)

    def get(self, *paths, metadata=AUTH, timeout=10, encoding=gnmi_pb2.JSON) -> gnmi_pb2.GetResponse:
        return self.stub.Get(gnmi_pb2.GetRequest(path=list(paths) or [SYSTEM], encoding=encoding),
                             metadata=metadata, timeout=timeout)

    def hostname(self) -> str:
        return json.loads(self.get(SYSTEM).notification[0].update[0].val.json_val)

    def close(self) -> None:
        self.channel.close()


@pytest.fixture
def clients():
    made = []

    def make(server, host):
        made.append(Client(server, host))
        return made[-1]
    yield make
    for client in made:
        client.close()


def code_of(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as err:
        call()
    return err.value.code()


@pytest.fixture
def no_tracebacks(caplog):
    caplog.set_level(logging.WARNING)
    yield caplog
    for record in caplog.records:
        assert record.exc_info is None and "Traceback" not in record.getMessage(), record.getMessage()


def test_many_ellipses_match_in_linear_time(make_server, clients, snapshot, monkeypatch, no_tracebacks):
    """Filed: one 113-byte Get with 14 `...` took 85 s of CPU. Counted comparisons prove the
    matching linear (states are pattern positions), and over the wire it is answered."""
    calls = [0]
    original = gnmi_paths._elem_matches

    def counting(*args):
        calls[0] += 1
        return original(*args)
    monkeypatch.setattr(gnmi_paths, "_elem_matches", counting)
    per_ellipses = {}
    for n in (14, 56):
        calls[0] = 0
        pattern = (("...", ()),) * n + (("state", ()),)
        gnmi_paths.leaves(snapshot, [pattern], CATALOGUE)
        per_ellipses[n] = calls[0]
    assert per_ellipses[56] <= 4 * per_ellipses[14] + 1000  # exponential would be 2^42 times more

    legit = clients(make_server(), "127.0.0.1")
    request = path(*["..."] * 14, "oper-status")
    assert len(gnmi_pb2.GetRequest(path=[request], encoding=gnmi_pb2.JSON).SerializeToString()) <= 120
    reply = legit.get(request, timeout=10)
    assert {u.path.elem[-1].name for u in reply.notification[0].update} == {"oper-status"}


def test_idle_subscribes_do_not_lock_anyone_out(make_server, clients, no_tracebacks):
    """Filed: 16 Subscribes that never send a request locked every other client out."""
    server = make_server(first_request_timeout_s=5.0)
    attackers, legit = [clients(server, "::1") for _ in range(30)], clients(server, "127.0.0.1")  # a connection each
    never = threading.Event()

    def silence():
        never.wait(30)
        return
        yield  # a request iterator that sends nothing
    idle = [attacker.stub.Subscribe(silence(), metadata=AUTH, timeout=30) for attacker in attackers]
    codes = []
    threads = [threading.Thread(target=lambda s=s: codes.append(code_of(lambda: next(s)))) for s in idle]
    for t in threads:
        t.start()
    assert wait_until(lambda: server.agent_counters()["gnmi_refused_client_limit_total"] == 22, 10), \
        server.agent_counters()
    assert legit.hostname() == "sw1"  # Get served
    stream = legit.stub.Subscribe(iter([subscribe_request()]), metadata=AUTH, timeout=10)
    assert next(stream).update.update  # and a Subscribe
    stream.cancel()
    for t in threads:
        t.join(10)
    never.set()
    assert sorted(c.name for c in codes) == ["DEADLINE_EXCEEDED"] * 8 + ["RESOURCE_EXHAUSTED"] * 22
    assert server.agent_counters()["gnmi_first_request_timeouts_total"] == 8


def test_a_poll_subscription_without_polls_ends(make_server, clients, no_tracebacks):
    server = make_server()
    attacker, legit = clients(server, "::1"), clients(server, "127.0.0.1")
    never = threading.Event()

    def requests():
        yield subscribe_request(mode=gnmi_pb2.SubscriptionList.POLL)
        never.wait(30)  # the stream stays open, and no poll ever comes
    stream = attacker.stub.Subscribe(requests(), metadata=AUTH, timeout=30)
    responses = []
    with pytest.raises(grpc.RpcError) as err:
        for response in stream:
            responses.append(response)
    never.set()
    assert responses[-1].sync_response and err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert server.agent_counters()["gnmi_idle_timeouts_total"] == 1
    assert legit.hostname() == "sw1"


def test_get_path_count_and_response_size_are_capped(make_server, clients, no_tracebacks):
    """Filed: 50,000 paths took 23 s of CPU; 200 x `/*` made a 42 MB reply."""
    server = make_server(max_response_bytes=1 << 20)
    attacker, legit = clients(server, "::1"), clients(server, "127.0.0.1")
    many = [path(f"x{i}") for i in range(50_000)]  # 500 kB: within the request size bound
    results = {}

    def flood():
        results["paths"] = code_of(lambda: attacker.get(*many, timeout=30))
        results["size"] = code_of(lambda: attacker.get(*[path("*")] * 60, timeout=30))  # 200: too many paths
    thread = threading.Thread(target=flood)
    thread.start()
    served = 0
    while thread.is_alive():
        assert legit.hostname() == "sw1"
        served += 1
    thread.join()
    assert served >= 1
    assert results == {"paths": grpc.StatusCode.RESOURCE_EXHAUSTED, "size": grpc.StatusCode.RESOURCE_EXHAUSTED}
    counters = server.agent_counters()
    assert (counters["gnmi_refused_too_many_paths_total"], counters["gnmi_refused_response_too_large_total"]) == (1, 1)
    assert len(legit.get(path("interfaces")).SerializeToString()) < 1 << 20  # what fits is served
    # the attacker built 1 MiB of reply: its budget (max_response_bytes per 10 s) is spent
    assert code_of(lambda: attacker.get(SYSTEM)) == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert server.agent_counters()["gnmi_refused_reply_budget_total"] == 1


def test_failed_calls_are_one_rate_limited_line_each_counted(make_server, clients, no_tracebacks):
    """Filed: 500 Sets logged 310 kB of tracebacks in 1.7 s; a bad encoding gave UNKNOWN."""
    server = make_server()
    attacker, legit = clients(server, "::1"), clients(server, "127.0.0.1")
    for _ in range(500):
        assert code_of(lambda: attacker.stub.Set(gnmi_pb2.SetRequest(), metadata=AUTH, timeout=5)) == \
            grpc.StatusCode.UNIMPLEMENTED
    assert code_of(lambda: attacker.get(SYSTEM, encoding=42)) == grpc.StatusCode.INVALID_ARGUMENT
    assert code_of(lambda: attacker.get(SYSTEM, encoding=gnmi_pb2.PROTO)) == grpc.StatusCode.UNIMPLEMENTED
    assert code_of(lambda: attacker.get(path(*["interfaces"] * 65))) == grpc.StatusCode.INVALID_ARGUMENT
    raw = attacker.channel.unary_unary("/gnmi.gNMI/Get", request_serializer=None, response_deserializer=None)
    assert code_of(lambda: raw(b"\x0a\xff\xff\xff\xff\x0f", metadata=AUTH, timeout=5)) != grpc.StatusCode.OK
    assert legit.hostname() == "sw1"
    counters = server.agent_counters()
    assert counters["gnmi_unimplemented_total"] == 501
    assert counters["gnmi_invalid_requests_total"] == 3
    lines = [r for r in no_tracebacks.records if r.name.startswith(("sonic_agent", "grpc"))]
    assert len(lines) <= 6, [r.getMessage() for r in lines]  # one per kind: Set/encoding, invalid, grpc's
    assert counters["gnmi_log_lines_suppressed_total"] >= 499


def test_failed_logins_are_logged_and_throttled(make_server, clients, no_tracebacks):
    """Filed: failed logins were neither logged nor slowed (about 2,000 guesses/s)."""
    server = make_server()
    attacker, legit = clients(server, "::1"), clients(server, "127.0.0.1")
    wrong = (("username", "admin"), ("password", "guess"))
    codes = {code_of(lambda: attacker.get(SYSTEM, metadata=wrong)) for _ in range(2000)}
    assert codes == {grpc.StatusCode.UNAUTHENTICATED}
    counters = server.agent_counters()
    assert counters["gnmi_login_failures_total"] <= FREE_FAILURES + 2  # checked; the rest refused unchecked
    assert counters["gnmi_logins_throttled_total"] >= 2000 - FREE_FAILURES - 2
    assert legit.hostname() == "sw1"  # another client is not held back
    assert any("failed login as 'admin'" in r.getMessage() for r in no_tracebacks.records)


def test_what_grpc_refuses_itself_is_counted(snapshot, clients, no_tracebacks):
    """Past every worker and QUEUED_RPCS waiting, gRPC answers RESOURCE_EXHAUSTED before the
    service sees the call; a request over 1 MiB it refuses unread; an unknown method it does
    not find. Each is counted. Here 9 workers (one subscription, 8 Gets) are held by a
    Snapshot that does not come until the test lets it."""
    gate, waiting = threading.Event(), []
    gate.set()

    def slow_snapshot():
        if not gate.is_set():
            waiting.append(1)
            gate.wait(30)
        return snapshot
    cfg = GnmiConfig(enabled=True, listen="localhost:0", username="admin", password="s3cret", max_subscriptions=1)
    server = GnmiServer(cfg, slow_snapshot).start()
    try:
        a, b = clients(server, "127.0.0.1"), clients(server, "::1")  # two clients: 4 Gets each at once
        stream = a.stub.Subscribe(iter([subscribe_request()]), metadata=AUTH, timeout=60)
        assert next(stream).update.update  # its worker held from now on
        gate.clear()
        held = [c.stub.Get.future(gnmi_pb2.GetRequest(path=[SYSTEM], encoding=gnmi_pb2.JSON), metadata=AUTH,
                                  timeout=60) for c in (a, b) for _ in range(4)]
        assert wait_until(lambda: len(waiting) >= 8, 10), len(waiting)
        more = [(a, b)[i % 2].stub.Get.future(gnmi_pb2.GetRequest(path=[SYSTEM], encoding=gnmi_pb2.JSON),
                                              metadata=AUTH, timeout=60) for i in range(16 + 5)]
        refused = [f for f in more if f.done()] if wait_until(lambda: sum(f.done() for f in more) >= 5, 10) else []
        assert [(f.code(), f.details()) for f in refused] == \
            [(grpc.StatusCode.RESOURCE_EXHAUSTED, "Concurrent RPC limit exceeded!")] * 5
        gate.set()
        assert all(f.result(timeout=30) for f in held)
        assert wait_until(lambda: server.agent_counters()["gnmi_refused_overload_total"] == 5, 5), \
            server.agent_counters()
        stream.cancel()
        huge = path("x" * (2 << 20))
        assert code_of(lambda: a.get(huge)) == grpc.StatusCode.RESOURCE_EXHAUSTED
        unknown = a.channel.unary_unary("/gnmi.gNMI/Delete", request_serializer=None, response_deserializer=None)
        assert code_of(lambda: unknown(b"", metadata=AUTH, timeout=5)) == grpc.StatusCode.UNIMPLEMENTED
        assert a.hostname() == "sw1"
        counters = server.agent_counters()
        assert (counters["gnmi_requests_unread_total"], counters["gnmi_unimplemented_total"]) == (1, 1)
        assert counters["gnmi_refused_overload_total"] == 5
    finally:
        gate.set()
        server.stop(0)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0"])
def test_off_loopback_without_authentication_refuses_to_start(certs, listen):
    cfg = GnmiConfig(listen=listen, tls=ServerTlsConfig(cert=certs.server_cert, key=certs.server_key))
    with pytest.raises(UserError, match=r"^export\.gnmi: refusing to serve .* to anyone: set export\.gnmi\.username"):
        GnmiServer(cfg, sample_snapshot)
    with_ca = GnmiConfig(listen=listen, tls=ServerTlsConfig(cert=certs.server_cert, key=certs.server_key,
                                                            client_ca=certs.ca))
    GnmiServer(with_ca, sample_snapshot).start().stop(0)  # mTLS is authentication


def test_garbage_certificates_and_a_foreign_key_are_one_line(certs, tmp_path):
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00\x01 not a certificate")
    cases = [(ServerTlsConfig(cert=str(garbage), key=certs.server_key), "export.gnmi.tls.cert: .* holds no PEM"),
             (ServerTlsConfig(cert=certs.server_cert, key=str(garbage)), "export.gnmi.tls.key: .* is not a PEM private"),
             (ServerTlsConfig(cert=certs.server_cert, key=certs.client_key), "export.gnmi.tls.key: .* does not match"),
             (ServerTlsConfig(cert=certs.server_cert, key=certs.server_key, client_ca=str(garbage)),
              "export.gnmi.tls.client_ca: .* holds no PEM")]
    for tls, message in cases:
        with pytest.raises(UserError, match="^" + message):
            GnmiServer(GnmiConfig(listen="127.0.0.1:0", tls=tls), sample_snapshot)


def test_every_gnmi_counter_is_catalogued(make_server):
    assert_catalogued(make_server().agent_counters())
