"""Every class counted exactly, on the right port and direction, by the real probe object
attached to a veth in a network namespace; nothing else moves."""
from __future__ import annotations

import collections
import socket
import struct
import subprocess
import threading

import pytest

from sonic_agent.config import ProbesConfig
from sonic_agent.probes import ProbeManager
from tests.conftest import assert_catalogued, wait_until

from .conftest import netns, send_frames
from .frames import FRAMES, PEER_MAC

pytestmark = pytest.mark.root


def _expected(direction: str, port: str):
    """(port, direction, class) -> (packets, bytes): frame i is sent i+1 times."""
    want = collections.Counter()
    for i, (klass, frame) in enumerate(FRAMES):
        want[(port, direction, klass, "p")] += i + 1
        want[(port, direction, klass, "b")] += (i + 1) * len(frame)
    return {key[:3]: (want[key[:3] + ("p",)], want[key[:3] + ("b",)]) for key in want}


def _observed(manager):
    return {(c.port, c.direction, c.klass): (c.packets, c.bytes) for c in manager.read(10).counts}


@pytest.fixture
def manager(probed_pair, probe_object):
    ns_a, dev_a, _, _, pin_dir = probed_pair
    with netns(ns_a):
        mgr = ProbeManager(ProbesConfig(pin_dir=pin_dir, top_talker_sample=1), obj_path=str(probe_object))
        mgr.sync([dev_a])
    yield mgr
    with netns(ns_a):
        mgr.close()


def _check(manager, want, classes):
    every = {(port, d, k) for port in {p for p, _, _ in want} for d in ("rx", "tx") for k in classes}
    full = {key: want.get(key, (0, 0)) for key in every}
    got = wait_until(lambda: (lambda o: o if o == full else None)(_observed(manager)))
    assert got == full, {k: (_observed(manager).get(k), v) for k, v in full.items() if _observed(manager).get(k) != v}


def test_ingress_counts_every_class_exactly(manager, probed_pair):
    ns_a, dev_a, ns_b, dev_b, _ = probed_pair
    assert manager.ports[dev_a].ingress == "xdp"
    classes = set(manager.maps.classes.values())
    assert {k for k, _ in FRAMES} == classes, "a class without a test frame"
    send_frames(ns_b, dev_b, [frame for i, (_, frame) in enumerate(FRAMES) for _ in range(i + 1)])
    _check(manager, _expected("rx", dev_a), classes)
    (rx,) = [h for h in manager.read(10).sizes if h.direction == "rx"]
    lengths = collections.Counter()
    for i, (_, frame) in enumerate(FRAMES):
        lengths[next(b for b, low in enumerate(rx.lows) if low <= len(frame) <= (rx.bounds + (1 << 30,))[b])] += i + 1
    assert rx.counts == tuple(lengths[b] for b in range(len(rx.bounds) + 1))
    assert rx.sum == sum((i + 1) * len(frame) for i, (_, frame) in enumerate(FRAMES))


def test_egress_counts_every_class_exactly(manager, probed_pair):
    ns_a, dev_a, _, _, _ = probed_pair
    send_frames(ns_a, dev_a, [frame for i, (_, frame) in enumerate(FRAMES) for _ in range(i + 1)])
    _check(manager, _expected("tx", dev_a), set(manager.maps.classes.values()))


def test_top_talkers_by_source(manager, probed_pair):
    ns_a, dev_a, ns_b, dev_b, _ = probed_pair
    frames = dict(FRAMES)
    send_frames(ns_b, dev_b, [frames["bgp"]] * 7 + [frames["ssh"]] * 3 + [frames["nd"]] * 2 + [frames["lldp"]] * 4)
    want = {("192.0.2.2", 6, "bgp"): 7, ("192.0.2.2", 6, "ssh"): 3, ("2001:db8::2", 58, "nd"): 2,
            (PEER_MAC, 0, "lldp"): 4}
    got = wait_until(lambda: (lambda t: t if t == want else None)(
        {(t.src, t.proto, t.klass): t.packets for t in manager.read(10).talkers}))
    assert got == want, manager.read(10).talkers
    assert manager.read(10).counters["probes_kernel_talker_update_total"] == 0


def test_egress_gso_packets_count_wire_segments(manager, probed_pair):
    """A bulk TCP send leaves as GSO packets of many segments: counted per segment, headers
    included in every one, as TCP itself counts them (tcpi_segs_out)."""
    ns_a, dev_a, ns_b, dev_b, _ = probed_pair
    for ns, dev, addr in ((ns_a, dev_a, "10.78.0.1/24"), (ns_b, dev_b, "10.78.0.2/24")):
        subprocess.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev], check=True)
    with netns(ns_b):
        server = socket.create_server(("10.78.0.2", 5001))
    received = []
    reader = threading.Thread(target=lambda: received.append(_drain(server)))
    reader.start()
    with netns(ns_a):
        client = socket.create_connection(("10.78.0.2", 5001), timeout=10)
    with client:
        client.sendall(b"x" * 2_000_000)
        client.shutdown(socket.SHUT_WR)
        assert client.recv(1) == b""  # the server's FIN: the exchange is over
        reader.join(10)
        info = client.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        segs_out = struct.unpack_from("I", info, 136)[0]  # struct tcp_info: tcpi_segs_out,
        payload = struct.unpack_from("Q", info, 200)[0]  # tcpi_bytes_sent (both with retransmits)

        def tx_tcp():
            return next((c.packets, c.bytes) for c in manager.read(10).counts if (c.direction, c.klass) == ("tx", "tcp4"))
        assert wait_until(lambda: tx_tcp()[0] == segs_out), (tx_tcp(), segs_out)
    assert received == [2_000_000] and segs_out > 2_000_000 // 1500  # MTU 1500: many segments
    packets, octets = tx_tcp()
    assert payload >= 2_000_000
    assert payload + packets * (14 + 20 + 20) <= octets <= payload + packets * (14 + 20 + 60)


def _drain(server: socket.socket) -> int:
    conn, _ = server.accept()
    with conn, server:
        total = 0
        while chunk := conn.recv(1 << 16):
            total += len(chunk)
        return total


def test_one_read_of_each_map_per_reading(manager, probed_pair):
    """A reading reads each kernel map once (port_counts for counts and sizes alike), and says
    so in its counters; counts and size histograms of one reading describe the same frames."""
    ns_a, dev_a, ns_b, dev_b, _ = probed_pair
    send_frames(ns_b, dev_b, [frame for _, frame in FRAMES])
    assert wait_until(lambda: sum(c.packets for c in manager.read(10).counts) == len(FRAMES))
    maps = manager.maps.maps
    first = manager.read(10)
    before = {name: m.reads for name, m in maps.items()}
    second = manager.read(10)
    reads = {name: m.reads - before[name] for name, m in maps.items()}
    assert reads == {"port_counts": 1, "talkers": 1, "drop_counts": int(manager.drops_available),
                     "probe_errors": 1, "settings": 0}
    assert second.counters["probes_map_reads_total"] - first.counters["probes_map_reads_total"] == sum(reads.values())
    assert_catalogued(second.counters)
    for h in second.sizes:
        counted = [c for c in second.counts if (c.port, c.direction) == (h.port, h.direction)]
        assert sum(h.counts) == sum(c.packets for c in counted) and h.sum == sum(c.bytes for c in counted)
    assert [sum(h.counts) for h in second.sizes if h.direction == "rx"] == [len(FRAMES)]
