"""The live path: ERSPAN frames sent over a real veth pair, read from a TPACKET_V2 ring into
the same decoder. Needs root (fails under CI without it)."""
from __future__ import annotations

import subprocess
import threading
import time

import pytest

from erspan import MirrorCollector
from erspan.afpacket import PacketRing
from scapy.layers.inet import IP
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

from .craft import erspan2, erspan3, eth, inner_frame, inner_tcp, variant
from .veth import send


def collect(ring: PacketRing, collector: MirrorCollector, until, deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and not until():
        frames = ring.read(0.2)
        if frames is not None:
            collector.add_frames(frames)


def mirror_packets(collector) -> int:
    return sum(s.packets for s in collector.sessions())


def sequenced(count: int):
    """ERSPAN II frames numbered 1..count, of 4 flows (they cycle in the sender; loss is checked per run)."""
    flows = [erspan2(session_id=21, inner=inner_frame(inner_tcp(sport=1000 + k))) for k in range(4)]
    return [variant(flows[i % 4], seq=i) for i in range(1, count + 1)]


def test_ring_delivers_every_frame_to_the_decoder(veth):
    a, b = veth
    frames = sequenced(5000) + [erspan3(session_id=22, direction=1)]
    collector = MirrorCollector()
    with PacketRing(b, block_size=1 << 18, block_count=32) as ring:
        assert send(a, frames, len(frames)).wait(60) == 0
        collect(ring, collector, lambda: mirror_packets(collector) >= len(frames), 20)
        drops = ring.stats()["drops"]
    sessions = {s.session_id: s for s in collector.sessions()}
    assert (sessions[21].packets, sessions[21].lost, sessions[22].packets) == (5000, 0, 1)
    assert sorted(f.packets for f in collector.flows() if f.session_id == 21) == [1250] * 4
    assert drops == 0


@pytest.mark.long
def test_one_million_frames_over_veth(veth):
    a, b = veth
    frames = sequenced(1000)
    total = 1_000_000
    collector = MirrorCollector()
    with PacketRing(b, block_size=1 << 20, block_count=256) as ring:
        sender = send(a, frames, total)
        collect(ring, collector, lambda: mirror_packets(collector) >= total, 300)
        assert sender.wait(60) == 0
        stats = ring.stats()
    assert stats["drops"] == 0, stats
    assert mirror_packets(collector) == total
    assert sum(f.packets for f in collector.flows()) == total


def test_reading_without_traffic_times_out_and_stops(veth):
    a, b = veth
    with PacketRing(b, block_size=1 << 16, block_count=4) as ring:
        start = time.monotonic()
        assert ring.read(0.1) is None
        assert time.monotonic() - start < 1
        stop = threading.Event()
        stop.set()
        assert list(ring.batches(stop)) == []


def test_ring_wraps_in_order_across_many_reads(veth):
    """A ring of a few slots, filled and read over and over: every frame comes out once, in
    sending order (the GRE sequence never goes back, so no loss is claimed)."""
    a, b = veth
    with PacketRing(b, block_size=1 << 16, block_count=2) as ring:
        assert ring.slots < 100
        collector = MirrorCollector()
        frame = erspan2(session_id=23)
        for chunk in range(12):
            frames = [variant(frame, seq=chunk * 60 + i) for i in range(1, 61)]
            assert send(a, frames, len(frames)).wait(30) == 0
            collect(ring, collector, lambda: mirror_packets(collector) >= (chunk + 1) * 60, 10)
        drops = ring.stats()["drops"]
    (session,) = collector.sessions()
    assert (session.packets, session.lost, drops) == (720, 0, 0)


@pytest.mark.parametrize("mtu", [1500, 9000])
def test_slots_hold_the_largest_frame_the_mtu_allows(veth, mtu):
    a, b = veth
    for dev in (a, b):
        subprocess.run(["ip", "link", "set", dev, "mtu", str(mtu)], check=True)
    payload = mtu - (20 + 8 + 8 + 14 + 20 + 20)  # outer IP, GRE with S, ERSPAN II, inner Ethernet, IP, TCP
    frame = erspan2(inner=inner_frame(inner_tcp(payload=b"p" * payload)))
    assert len(frame) == mtu + 14
    with PacketRing(b, block_size=1 << 16, block_count=4) as ring:
        assert send(a, [frame], 3).wait(30) == 0
        batch = ring.read(5)
    assert batch is not None and len(batch) == 3
    assert batch.caplen.tolist() == batch.wirelen.tolist() == [mtu + 14] * 3
    start = int(batch.start[0])
    assert bytes(batch.data[start:start + len(frame)]) == frame


def test_vlan_tags_the_kernel_strips_are_put_back(veth):
    """The receive path moves a frame's outer tag into metadata: raw SPAN frames keep their
    VLAN, and a tagged ERSPAN frame still decodes (its outer tag walked as on the wire)."""
    a, b = veth
    span = bytes(eth() / Dot1Q(vlan=300) / inner_tcp())
    tagged_erspan = bytes(eth() / Dot1AD(vlan=7) / Ether(erspan2(session_id=24))[IP])
    with PacketRing(b, block_size=1 << 16, block_count=4) as ring:
        assert send(a, [span, tagged_erspan, span], 3).wait(30) == 0
        batch = ring.read(5)
    assert batch is not None and len(batch) == 3
    start = int(batch.start[0])
    assert bytes(batch.data[start:start + len(span)]) == span and batch.caplen.tolist()[0] == len(span)
    as_span, as_mirror = MirrorCollector(span=True), MirrorCollector()
    as_span.add_frames(batch)
    as_mirror.add_frames(batch)
    assert {(f.vlan, f.proto, f.packets) for f in as_span.flows()} == {(300, 6, 2), (7, 47, 1)}
    assert {(f.session_id, f.packets) for f in as_mirror.flows()} == {(24, 1)}
