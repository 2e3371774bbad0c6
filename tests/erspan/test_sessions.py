"""Per-session counters: GRE sequence loss (32-bit wrap, stuck senders, batches), truncation."""
from __future__ import annotations

import numpy as np
import pytest

from erspan import MirrorCollector
from erspan.sessions import sequence_loss

from .craft import erspan2, erspan3, inner_frame, inner_tcp

WRAP = 1 << 32


def session_by_id(collector):
    return {s.session_id: s for s in collector.sessions()}


@pytest.mark.parametrize("seqs,lost", [
    ([1, 2, 3, 4], 0),
    ([1, 2, 5, 6], 2),
    ([WRAP - 3, WRAP - 2, 1, 2], 2),  # skips 2^32-1 and 0 across the wrap
    ([WRAP - 1, 0, 1], 0),
    ([0, 0, 0, 0, 0], 0),  # a sender that never advances claims no loss
    ([10, 11, 11, 9, 12], 0),  # duplicates and a late packet add nothing
    ([7], 0),
])
def test_sequence_loss(seqs, lost):
    collector = MirrorCollector()
    collector.add_packets([erspan2(seq=s, session_id=3) for s in seqs])
    assert session_by_id(collector)[3].lost == lost


def test_sequence_gaps_across_batches_and_per_session():
    collector = MirrorCollector()
    collector.add_packets([erspan2(seq=10, session_id=1), erspan2(seq=100, session_id=2),
                           erspan2(seq=11, session_id=1)])
    collector.add_packets([erspan2(seq=15, session_id=1), erspan2(seq=101, session_id=2)])
    collector.add_packets([erspan2(seq=WRAP - 1, session_id=2)])  # a jump back: not a loss
    sessions = session_by_id(collector)
    assert (sessions[1].lost, sessions[1].packets) == (3, 3)
    assert (sessions[2].lost, sessions[2].packets) == (0, 3)


def test_sequence_loss_function_carries_the_high_water_mark():
    lost, high = sequence_loss(np.array([WRAP - 2, WRAP - 1]), None)
    assert (lost, high) == (0, WRAP - 1)
    lost, high = sequence_loss(np.array([2, 3]), high)
    assert (lost, high) == (2, 3)


def test_erspan_iii_sequence_and_streams_split_by_gre_protocol():
    collector = MirrorCollector()
    collector.add_packets([erspan3(seq=1, session_id=4), erspan3(seq=4, session_id=4),
                           erspan2(seq=1, session_id=4), erspan2(seq=2, session_id=4)])
    sessions = {(s.gre_proto, s.session_id): s for s in collector.sessions()}
    assert sessions[(0x22EB, 4)].lost == 2 and sessions[(0x88BE, 4)].lost == 0


def test_truncated_by_t_bit_by_snaplen_and_by_mirror_truncation():
    full = erspan2(session_id=8)
    cut_inner = full[:len(full) - 30]  # truncate_size: the inner IP header still says 60 bytes
    collector = MirrorCollector()
    collector.add_packets([erspan2(session_id=8, t=1), full, cut_inner])
    collector.add_buffer(full[:60], [60], wirelens=[len(full)])  # a capture snaplen of 60
    session = session_by_id(collector)[8]
    assert (session.packets, session.truncated) == (4, 3)
    flow = [f for f in collector.flows() if f.sport == 40000][0]
    assert flow.packets == 3 and flow.bytes == 3 * len(inner_tcp())


def test_inner_transport_header_cut_counts_packet_without_ports():
    frame = erspan2(inner=inner_frame(inner_tcp(payload=b"")))
    cut = frame[:len(frame) - 18]  # keeps the inner IP header and 2 bytes of TCP
    collector = MirrorCollector()
    collector.add_packets([cut])
    (flow,) = collector.flows()
    assert (flow.proto, flow.sport, flow.dport, flow.bytes) == (6, None, None, 40)
    assert session_by_id(collector)[5].truncated == 1
