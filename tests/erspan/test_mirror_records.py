"""The erspan tables as the agent's neutral records, with the MIRROR_SESSION lookup hook."""
from __future__ import annotations

from scapy.contrib.erspan import ERSPAN_PlatformSpecific

from erspan import MirrorCollector
from sonic_agent.mirror.records import MirrorStream, SessionMatch, flow_records, session_stats
from sonic_agent.records import FlowRecord, MirrorSessionStats

from .craft import erspan2, erspan3, icmp_echo, inner_frame


def collector_with_two_streams():
    collector = MirrorCollector()
    collector.add_packets([erspan2(seq=1, session_id=4), erspan2(seq=5, session_id=4),
                           erspan3(inner=inner_frame(icmp_echo()), direction=1, session_id=2)])
    return collector


def lookup(stream: MirrorStream):
    if (stream.outer_src, stream.outer_dst, stream.gre_proto) == ("10.0.0.1", "10.0.0.2", 0x88BE):
        return SessionMatch("everflow", ("Ethernet0", "Ethernet4"), sample_rate=100, status="active", direction="rx")
    return None


def test_flow_records_with_and_without_a_match():
    records = {r.erspan_type: r for r in flow_records(collector_with_two_streams().flows(), lookup)}
    assert all(isinstance(r, FlowRecord) for r in records.values())
    matched, unmatched = records[2], records[3]
    assert (matched.session, matched.source_ports, matched.sample_rate) == ("everflow", ("Ethernet0", "Ethernet4"), 100)
    assert (matched.packets, matched.session_id, matched.tcp_flags, matched.sport) == (2, 4, 0x02, 40000)
    assert matched.direction == "rx"  # ERSPAN II has no d bit: the session's direction
    assert (matched.estimated_packets, matched.estimated_bytes) == (200, matched.bytes * 100)
    assert (matched.outer_src, matched.outer_dst) == ("10.0.0.1", "10.0.0.2")  # the flow's stream
    assert (unmatched.session, unmatched.sample_rate, unmatched.direction) == ("", None, "tx")
    assert (unmatched.proto, unmatched.sport, unmatched.dport, unmatched.tcp_flags) == (1, 8, 0, 0)


def test_session_stats_records():
    records = {r.session_id: r for r in session_stats(collector_with_two_streams().sessions(), lookup)}
    assert all(isinstance(r, MirrorSessionStats) for r in records.values())
    assert (records[4].session, records[4].status, records[4].lost, records[4].packets) == ("everflow", "active", 3, 2)
    assert (records[2].session, records[2].gre_proto, records[2].outer_src) == ("", 0x22EB, "10.0.0.1")


def test_records_without_a_lookup_and_for_span():
    collector = MirrorCollector(span=True)
    collector.add_packets([bytes(inner_frame())])
    (flow,) = flow_records(collector.flows())
    (session,) = session_stats(collector.sessions())
    assert (flow.session, flow.erspan_type, flow.src, flow.direction) == ("", None, "192.0.2.1", None)
    assert (flow.outer_src, flow.outer_dst) == ("", "")  # SPAN: no stream
    assert (flow.estimated_packets, flow.estimated_bytes) == (flow.packets, flow.bytes)  # not sampled: raw
    assert (session.outer_src, session.gre_proto, session.packets) == ("", None, 1)


def test_lookup_sees_the_port_index():
    seen = []
    collector = MirrorCollector()
    collector.add_packets([erspan3(platform=ERSPAN_PlatformSpecific(platf_id=3, info1=48))])
    flow_records(collector.flows(), lambda stream: seen.append(stream))
    assert seen == [MirrorStream("10.0.0.1", "10.0.0.2", 0x22EB, 9, 48)]
