"""The decoder on a veth in a network namespace: what it drops, what reaches the stack, and
whose XDP program it refuses to replace."""
from __future__ import annotations

import errno
import socket

import pytest
from scapy.layers.inet import IP, UDP

from sonic_agent.bpf import BpfError, BpfObject, object_path
from sonic_agent.bpf.netattach import xdp_attach, xdp_detach, xdp_query
from tests.conftest import assert_catalogued, wait_until
from tests.erspan.craft import erspan2, erspan3, eth, inner_frame, inner_tcp, variant
from tests.probes.conftest import netns, quiet_links, send_frames

from .live import Capture, attached

@pytest.fixture
def pair(netns_pair):
    ns_a, dev_a, ns_b, dev_b = netns_pair
    quiet_links((ns_a, dev_a), (ns_b, dev_b))
    return netns_pair


PLAIN = bytes(eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=2))


@pytest.mark.parametrize("drop", [True, False])
def test_mirror_copies_dropped_or_passed_other_traffic_passes(pair, make_decoder, drop):
    ns_a, dev_a, ns_b, dev_b = pair
    frame = erspan2()
    mirror = [variant(frame, seq=seq) for seq in range(1, 51)] + [erspan3()] * 50
    capture = Capture(ns_b, dev_b)
    with attached(make_decoder(drop=drop), ns_b, dev_b) as decoder:
        send_frames(ns_a, dev_a, mirror + [PLAIN] * 5)
        assert wait_until(lambda: sum(decoder.read().reasons.values()) == 105)
        seen, drops = capture.drain()
        assert decoder.read().reasons == {"ok": 100, "not_mirror": 5}
        assert {s.session_id: (s.packets, s.lost) for s in decoder.read().sessions} == {5: (50, 0), 9: (50, 0)}
    assert drops == 0
    assert seen.count(PLAIN) == 5
    assert sum(1 for f in seen if f != PLAIN) == (0 if drop else 100)
    capture.close()


def test_foreign_xdp_program_is_never_replaced(pair, make_decoder):
    _, _, ns_b, dev_b = pair
    with BpfObject(str(object_path("empty_xdp.bpf.o"))) as foreign, netns(ns_b):
        ifindex = socket.if_nametoindex(dev_b)
        fd = foreign.program("empty_xdp").fd
        xdp_attach(ifindex, fd)
        try:
            foreign_id = xdp_query(ifindex)[0]
            with pytest.raises(BpfError) as caught:
                make_decoder().attach(dev_b)
            assert caught.value.errno in (errno.EEXIST, errno.EBUSY)
            assert "empty_xdp" in str(caught.value)
            assert xdp_query(ifindex)[0] == foreign_id
        finally:
            xdp_detach(ifindex, fd, xdp_query(ifindex)[1])


def test_close_detaches(pair, make_decoder):
    _, _, ns_b, dev_b = pair
    decoder = make_decoder()
    with netns(ns_b):
        decoder.attach(dev_b)
        ifindex = socket.if_nametoindex(dev_b)
        assert xdp_query(ifindex)[0] != 0
        decoder.close()
        assert xdp_query(ifindex) == (0, 0)


def test_a_previous_agents_decoder_is_taken_over(pair, make_decoder):
    """An agent that died leaves its decoder attached; the next one replaces it in place."""
    ns_a, dev_a, ns_b, dev_b = pair
    left_behind, successor = make_decoder(), make_decoder()
    with netns(ns_b):
        left_behind.attach(dev_b)  # never detached: as after a crash
        ifindex = socket.if_nametoindex(dev_b)
        old_id = xdp_query(ifindex)[0]
    with attached(successor, ns_b, dev_b):
        with netns(ns_b):
            assert xdp_query(ifindex)[0] not in (0, old_id)
        send_frames(ns_a, dev_a, [erspan2()] * 10)
        assert wait_until(lambda: successor.read().stats["flow_packets"] == 10)
        assert left_behind.read().stats["frames"] == 0
    with netns(ns_b):
        assert xdp_query(ifindex) == (0, 0)


def test_the_agent_source_reads_each_kernel_map_once_per_read(pair):
    """XdpMirrorSource.read (what a Snapshot takes): the flow map once for count and top-K, the
    session array once, the reason and stats arrays once; the total is in its counters."""
    from sonic_agent.config import MirrorConfig
    from sonic_agent.mirror.source import XdpMirrorSource

    ns_a, dev_a, ns_b, dev_b = pair
    source = XdpMirrorSource(MirrorConfig(enabled=True, interface=dev_b, top_flows=2))
    with netns(ns_b):
        source.start()
    try:
        send_frames(ns_a, dev_a, [erspan2(inner=inner_frame(inner_tcp(sport=port)), seq=port)
                                  for port in range(1, 6)])
        assert wait_until(lambda: source.read().counters["mirror_flow_packets_total"] == 5)
        maps = source.collector.maps.maps
        first = source.read()
        before = {name: m.reads for name, m in maps.items()}
        second = source.read()
    finally:
        with netns(ns_b):
            source.stop()
    assert {name: m.reads - before[name] for name, m in maps.items()} == dict.fromkeys(maps, 1)
    assert sorted(maps) == ["mirror_flows", "mirror_reasons", "mirror_sessions", "mirror_stats"]
    assert second.counters["mirror_map_reads_total"] - first.counters["mirror_map_reads_total"] == 4
    assert_catalogued(second.counters)
    assert len(second.flows) == 2 and second.counters["mirror_flows"] == 5  # top-K of the one read
    assert [(s.session_id, s.packets) for s in second.sessions] == [(5, 5)]
