"""The flow table: key fields, counters across batches, LRU bound with evictions, top-K."""
from __future__ import annotations

from erspan import MirrorCollector

from .craft import SWITCHES, erspan2, erspan3, inner_frame, inner_tcp, two_switches_one_session_id, variant


def tcp_frame(sport, payload=b"", flags="A", session_id=5, tos=0):
    return erspan2(inner=inner_frame(inner_tcp(sport=sport, flags=flags, payload=payload,
                                               tos=tos)), session_id=session_id)


def tcp_frames(sports):
    """tcp_frame(sport) for every sport (patched from one: scapy takes a millisecond a frame)."""
    frame = tcp_frame(0)
    return [variant(frame, sport=sport) for sport in sports]


def test_key_fields_split_flows():
    collector = MirrorCollector()
    collector.add_packets([tcp_frame(1), tcp_frame(1, session_id=6), tcp_frame(2),
                           erspan3(direction=0), erspan3(direction=1),
                           erspan2(inner=inner_frame(vlan=10)), erspan2(inner=inner_frame(vlan=11))])
    keys = {(f.erspan_type, f.session_id, f.direction, f.vlan, f.sport) for f in collector.flows()}
    assert keys == {(2, 5, None, None, 1), (2, 6, None, None, 1), (2, 5, None, None, 2),
                    (3, 9, "rx", None, 40000), (3, 9, "tx", None, 40000),
                    (2, 5, None, 10, 40000), (2, 5, None, 11, 40000)}


def test_counters_accumulate_across_batches():
    collector = MirrorCollector()
    collector.add_packets([tcp_frame(1, flags="S", payload=b"a" * 10)], timestamps=[100.0])
    collector.add_packets([tcp_frame(1, flags="A", payload=b"a" * 30),
                           tcp_frame(1, flags="F")], timestamps=[101.5, 103.25])
    (flow,) = collector.flows()
    assert (flow.packets, flow.bytes, flow.tcp_flags) == (3, 50 + 70 + 40, 0x13)
    assert (flow.first_seen, flow.last_seen) == (100.0, 103.25)


def test_lru_bound_counts_evictions_and_keeps_the_recent():
    collector = MirrorCollector(max_flows=3)
    collector.add_packets([tcp_frame(p) for p in (1, 2, 3)])
    collector.add_packets([tcp_frame(1), tcp_frame(4)])  # 1 is refreshed, 2 is the oldest
    collector.add_packets([tcp_frame(5), tcp_frame(1)])
    assert sorted(f.sport for f in collector.flows()) == [1, 4, 5]
    stats = collector.stats()
    assert (stats["flows"], stats["flow_evictions"]) == (3, 2)
    assert [f.packets for f in collector.flows() if f.sport == 1] == [3]


def test_lru_order_within_one_batch_follows_last_packet():
    collector = MirrorCollector(max_flows=2)
    collector.add_packets([tcp_frame(1), tcp_frame(2), tcp_frame(3), tcp_frame(1)])
    assert sorted(f.sport for f in collector.flows()) == [1, 3]
    assert collector.stats()["flow_evictions"] == 1


def test_top_k_by_bytes_and_by_packets():
    collector = MirrorCollector()
    collector.add_packets([tcp_frame(1, payload=b"x" * 900)] + [tcp_frame(2)] * 5
                          + [tcp_frame(3, payload=b"y" * 100)] * 2)
    assert [f.sport for f in collector.top_flows(2)] == [1, 3]
    assert [f.sport for f in collector.top_flows(1, by="packets")] == [2]


def test_flow_remembers_its_mirror_stream():
    collector = MirrorCollector()
    collector.add_packets([tcp_frame(1)])
    (flow,) = collector.flows()
    assert (flow.outer_src, flow.outer_dst, flow.gre_proto) == ("10.0.0.1", "10.0.0.2", 0x88BE)


def test_two_switches_with_one_session_id_keep_their_flows_apart():
    """A collector fed by many switches: the flow key holds the mirror stream, so the same
    conversation mirrored by two switches under one session id is two flows, one per switch."""
    collector = MirrorCollector()
    collector.add_packets(two_switches_one_session_id())
    flows = sorted(collector.flows(), key=lambda f: f.outer_src)
    assert [(f.outer_src, f.outer_dst, f.session_id, f.packets) for f in flows] == \
        [(SWITCHES[0], "10.0.0.2", 5, 3), (SWITCHES[1], "10.0.0.2", 5, 4)]
    assert len({(f.src, f.dst, f.proto, f.sport, f.dport) for f in flows}) == 1  # the same conversation
    assert sorted((s.outer_src, s.packets, s.lost) for s in collector.sessions()) == \
        [(SWITCHES[0], 3, 0), (SWITCHES[1], 4, 0)]


def test_many_distinct_flows_in_one_batch_stay_bounded():
    collector = MirrorCollector(max_flows=100)
    collector.add_packets(tcp_frames(range(1, 1001)))
    stats = collector.stats()
    assert (stats["flows"], stats["flow_evictions"], stats["flow_packets"]) == (100, 900, 1000)
    assert sorted(f.sport for f in collector.flows()) == list(range(901, 1001))


def test_table_grows_to_its_bound_then_evicts_the_oldest():
    collector = MirrorCollector(max_flows=3000)
    collector.add_packets(tcp_frames(range(1, 2501)))  # past the initial capacity
    collector.add_packets(tcp_frames(range(2501, 3501)))
    collector.add_packets([tcp_frame(600)])  # refreshed: now the newest, nothing evicted
    stats = collector.stats()
    assert (stats["flows"], stats["flow_evictions"]) == (3000, 500)
    flows = collector.flows()
    assert sorted(f.sport for f in flows) == list(range(501, 3501))
    assert flows[-1].sport == 600 and flows[-1].packets == 2
