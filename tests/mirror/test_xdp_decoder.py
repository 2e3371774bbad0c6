"""The XDP decoder against the erspan library, frame by frame (BPF_PROG_TEST_RUN): the same
flows, sessions, sequence loss, and the same reason for every frame it leaves to userspace.
Each test runs with both builds of the decoder (this kernel loads both): the one for kernels
with BPF timers and compare-and-swap, and the 5.10 one (per-frame clock, locked sequence)."""
from __future__ import annotations

import os
import time

import pytest
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_PlatformSpecific
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR, fragment
from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q
from scapy.layers.sctp import SCTP
from scapy.packet import Raw

from sonic_agent.mirror.kernel import OBJECT, OBJECT_5_10
from sonic_agent.mirror.records import flow_records, session_stats
from tests.erspan.craft import (GRE, OUTER, SWITCHES, erspan1, erspan2, erspan3, erspan3_platform, eth, gre,
                                icmp_echo, inner_frame, inner_tcp, two_switches_one_session_id, udp_packet, variant)
from tests.conftest import require, require_root
from tests.erspan.test_reasons import CASES as REASON_CASES

from .compare import XDP_DROP, XDP_PASS, flow_table, library, run_frames, session_table

V6 = dict(src="2001:db8::10", dst="2001:db8::20")


@pytest.fixture(params=[OBJECT, OBJECT_5_10], ids=["timers", "5.10"])
def decoder_object(request) -> str:
    return request.param


def tcp(flags="S", tos=0, sport=40000, **ip):
    return IP(src="192.0.2.1", dst="198.51.100.7", tos=tos, **ip) / TCP(sport=sport, dport=443, flags=flags) / Raw(b"x" * 20)


def outer_v6_with_ext(inner):
    return bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
                 / IPv6ExtHdrDestOpt() / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
                 / ERSPAN_II(session_id=77) / inner)


ISL_FRAME = bytes(eth() / inner_tcp())
ISL = (b"\x01\x00\x0c\x00\x00" + b"\x00" + b"\x02\x00\x00\x00\x00\x09" + len(ISL_FRAME).to_bytes(2, "big")
       + b"\xaa\xaa\x03" + b"\x02\x00\x00" + (301 << 1).to_bytes(2, "big") + b"\x00" * 4)  # VLAN 301
BIG_UDP = IP(src="192.0.2.5", dst="192.0.2.6") / UDP(sport=5000, dport=6000) / Raw(b"z" * 1200)

# name -> frames; each set goes through both paths and must give the same tables
FLOW_CASES = {
    "erspan_i": [erspan1()],
    "erspan_ii_vlan_field_t_bit": [erspan2(session_id=513, vlan=700), erspan2(session_id=513, vlan=700, t=1, seq=2)],
    "erspan_iii_direction_inner_tag": [erspan3(inner_frame(vlan=42), session_id=1023, direction=1, vlan=7)],
    "erspan_iii_platform_subheader": [erspan3(platform=erspan3_platform(), seq=4)],
    "erspan_iii_ip_frames": [erspan3(inner=icmp_echo(), ft=2), erspan3(inner=udp_packet(), ft=2)],
    "gre_8949_vendor_header": [gre(0x8949, Raw(b"\xee" * 22) / inner_frame())],
    "gre_6558_vlan": [gre(0x6558, inner_frame(vlan=12))],
    "gre_ip_payloads": [gre(0x0800, inner_tcp()), gre(0x86DD, udp_packet())],
    "gre_checksum_key_sequence": [gre(0x88BE, ERSPAN_II(session_id=3) / inner_frame(), chksum_present=1,
                                      key_present=1, key=7, seqnum_present=1, sequence_number=9)],
    "inner_qinq_and_priority_tag": [erspan2(inner=eth() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / inner_tcp()),
                                    erspan2(vlan=5, inner=inner_frame(vlan=0), seq=2)],
    "inner_ipv6_extension_headers": [erspan2(inner=eth() / IPv6(**V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting()
                                             / IPv6ExtHdrDestOpt() / TCP(sport=1, dport=2, flags="SA"))],
    "inner_ipv6_fragments": [erspan2(inner=eth() / IPv6(**V6) / IPv6ExtHdrFragment(m=1, id=5) / UDP(sport=7, dport=8)
                                     / Raw(b"a" * 40)),
                             erspan2(inner=eth() / IPv6(**V6) / IPv6ExtHdrFragment(offset=6, id=5, nh=17)
                                     / Raw(b"a" * 40), seq=2)],
    "inner_ipv4_fragments": [erspan2(inner=eth() / part, seq=i) for i, part in enumerate(fragment(BIG_UDP, 400), 1)],
    "inner_ipv4_options": [erspan2(inner=eth() / tcp(options=[IPOption_RR()]))],
    "sctp_icmp_icmpv6_other": [erspan2(inner=eth() / IP(src="10.9.0.1", dst="10.9.0.2") / SCTP(sport=3868, dport=3868)),
                               erspan2(inner=eth() / icmp_echo(), seq=2),
                               erspan2(inner=eth() / IPv6(**V6) / ICMPv6EchoRequest(), seq=3),
                               erspan2(inner=eth() / IP(src="10.9.0.1", dst="10.9.0.2", proto=50) / Raw(b"e" * 40), seq=4),
                               erspan2(inner=eth() / IP(src="10.9.0.1", dst="10.9.0.2", proto=136) / Raw(b"\x01\x02\x03\x04" * 4), seq=5)],
    "tcp_flags_or_latest_dscp": [erspan2(inner=eth() / tcp("S", tos=0x20), seq=1),
                                 erspan2(inner=eth() / tcp("A", tos=0x20), seq=2),
                                 erspan2(inner=eth() / tcp("FA", tos=0xB8), seq=3)],
    "truncated_mirrors": [erspan2(inner=inner_frame(tcp()))[:-30],  # payload cut: ports kept
                          erspan2(inner=inner_frame(tcp()), seq=2)[:14 + 20 + 16 + 14 + 20 + 2]],  # TCP cut
    "outer_ipv6_with_extension_headers": [outer_v6_with_ext(inner_frame())],
    "outer_vlan_tags": [bytes(eth() / Dot1AD(vlan=3) / Dot1Q(vlan=4) / IP(proto=47, **OUTER)
                              / GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II(session_id=8) / inner_frame())],
    "cisco_isl_and_ttag": [erspan2(inner=Raw(ISL + ISL_FRAME + b"\x00" * 4), vlan=5),
                           erspan2(inner=eth(type=0x8988) / Raw(b"\x00\x01\x02\x03\x04\x05\x81\x00")
                                   / Dot1Q(vlan=44) / inner_tcp(), seq=2),
                           erspan2(inner=eth(dst="01:00:5e:00:00:05") / inner_tcp(sport=9), seq=3)],
    "port_index": [gre(0x88BE, ERSPAN_II(session_id=3, index=0xABCDE) / inner_frame(), seqnum_present=1)]
    + [erspan3(platform=ERSPAN_PlatformSpecific(platf_id=platform, info1=info1, info2=info2),
               inner=inner_frame(tcp(sport=30000 + platform)))
       for platform, info1, info2 in ((3, 0x0123, 0x55), (1, 0x7, 0x00ABCDEF), (5, 0x20042, 0), (6, 0x7, 0),
                                      (7, 0xFEDCB, 0), (0, 0x00011, 9), (12, 0x1, 0x2))],
    "decoded_without_flow": [erspan3(ft=7), erspan2(inner=eth() / ARP()), erspan2(seq=2)],
}


@pytest.mark.parametrize("case", sorted(FLOW_CASES))
def test_flows_and_sessions_match_the_library(decoder, case):
    frames = FLOW_CASES[case]
    verdicts = run_frames(decoder, frames)
    expected = library(frames)
    assert flow_table(decoder.read().flows) == flow_table(expected.flows()), case
    assert session_table(decoder.read().sessions) == session_table(expected.sessions()), case
    stats = decoder.read().stats
    assert stats["flow_packets"] == expected.stats()["flow_packets"] > 0 or case == "decoded_without_flow"
    assert verdicts == [XDP_DROP] * len(frames) and stats["passed"] == 0, stats


def test_two_switches_with_one_session_id_keep_their_flows_apart(decoder):
    """The kernel keeps one flow per mirror stream (its hash in the flow key), as the library
    does: the same conversation from two switches under one session id is two flows."""
    frames = two_switches_one_session_id()
    run_frames(decoder, frames)
    kernel, expected = decoder.read(), library(frames).read()
    assert flow_table(kernel.flows) == flow_table(expected.flows)
    assert sorted((f.outer_src, f.session_id, f.packets, f.bytes // f.packets) for f in kernel.flows) == \
        [(SWITCHES[0], 5, 3, 60), (SWITCHES[1], 5, 4, 60)]
    assert sorted((s.outer_src, s.packets, s.lost) for s in kernel.sessions) == [(SWITCHES[0], 3, 0), (SWITCHES[1], 4, 0)]
    assert sorted(r.outer_src for r in flow_records(kernel.flows)) == list(SWITCHES)


def test_all_cases_in_one_table(decoder):
    frames = [f for case in sorted(FLOW_CASES) for f in FLOW_CASES[case]]
    run_frames(decoder, frames)
    assert flow_table(decoder.read().flows) == flow_table(library(frames).flows())


@pytest.mark.parametrize("vendor_len", [22, 16, 0])
def test_vendor_header_length_is_configurable(make_decoder, vendor_len):
    frames = [gre(0x8949, Raw(b"\xee" * vendor_len) / inner_frame())]
    decoder = make_decoder(vendor_header_len=vendor_len)
    run_frames(decoder, frames)
    flows = decoder.read().flows
    assert flow_table(flows) == flow_table(library(frames, vendor_header_len=vendor_len).flows())
    assert [(f.src, f.gre_proto) for f in flows] == [("192.0.2.1", 0x8949)]


WRAP = 1 << 32


@pytest.mark.parametrize("seqs", [
    [1, 2, 3, 4], [1, 2, 5, 6], [WRAP - 3, WRAP - 2, 1, 2], [WRAP - 1, 0, 1], [0, 0, 0, 0],
    [10, 11, 11, 9, 12], [10, 5, 20, 15, 21], [7], [100, 100 + (1 << 31), 101],
])
def test_sequence_loss_matches_the_library(decoder, seqs):
    frames = [erspan2(seq=s, session_id=3) for s in seqs]
    run_frames(decoder, frames)
    (session,) = decoder.read().sessions
    (expected,) = library(frames).sessions()
    assert (session.packets, session.lost) == (expected.packets, expected.lost), seqs


# XDP sees Ethernet only, and BPF_PROG_TEST_RUN refuses frames under 14 bytes: the outer L2
# header is cut inside a VLAN tag instead.
KERNEL_REASON_CASES = {**{r: frame for r, (frame, _) in REASON_CASES.items() if r != "unsupported_linktype"},
                       "outer_l2_truncated": bytes(eth(type=0x8100)) + b"\x00\x05"}


@pytest.mark.parametrize("reason", sorted(KERNEL_REASON_CASES))
def test_every_reason_the_library_names(decoder, reason):
    """The kernel gives the library's reason; it passes what it does not decode, drops the rest."""
    frame = KERNEL_REASON_CASES[reason]
    assert {**library([frame]).stats()["malformed"], **library([frame]).stats()["skipped"]} == {reason: 1}
    (verdict,) = run_frames(decoder, [frame])
    assert decoder.read().reasons == {reason: 1}
    consumed = reason in ("erspan_frame_type", "inner_not_ip")
    assert verdict == (XDP_DROP if consumed else XDP_PASS)
    assert decoder.read().stats["passed"] == (0 if consumed else 1)
    assert decoder.read().flows == []


def test_passed_frames_still_count_in_their_session(decoder):
    bad_inner = gre(0x6558, Raw(b"\x02" * 9), seqnum_present=1, sequence_number=3)
    good = gre(0x6558, inner_frame(), seqnum_present=1, sequence_number=1)
    run_frames(decoder, [good, bad_inner])
    (session,) = decoder.read().sessions
    assert (session.packets, session.passed, session.lost) == (2, 1, 1)


def test_cut_ttag_is_left_to_userspace(decoder):
    assert run_frames(decoder, [erspan2(inner=eth(type=0x8988) / Raw(b"\x00" * 5))]) == [XDP_PASS]
    assert decoder.read().reasons == {"inner_l2_truncated": 1}


def test_outer_fragments_are_passed_even_the_first(decoder):
    whole = IP(proto=47, **OUTER) / GRE(proto=0x6558) / inner_frame(tcp(flags="S")) / Raw(b"p" * 600)
    frames = [bytes(eth() / part) for part in fragment(whole, 256)]
    assert run_frames(decoder, frames) == [XDP_PASS] * len(frames)
    assert decoder.read().reasons == {"outer_fragment": len(frames)} and decoder.read().sessions == []


def test_drop_is_configurable(make_decoder):
    decoder = make_decoder(drop=False)
    assert run_frames(decoder, [erspan2(), erspan3(ft=7)]) == [XDP_PASS, XDP_PASS]
    assert decoder.read().stats["passed"] == 0 and decoder.read().stats["flow_packets"] == 1


def test_flow_table_is_bounded_and_evictions_counted(make_decoder):
    decoder = make_decoder(max_flows=64)
    frame = erspan2(inner=inner_frame(tcp()))
    frames = [variant(frame, seq=i, sport=1000 + i) for i in range(300)]
    run_frames(decoder, frames)
    stats = decoder.read().stats
    assert 0 < stats["flows"] <= 64
    assert stats["flows"] + stats["flow_evictions"] == 300
    assert stats["flow_packets"] == 300 and sum(f.packets for f in decoder.read().flows) == stats["flows"]


def test_non_mirror_traffic_passes_untouched(decoder):
    frames = [bytes(eth() / IP() / UDP(dport=53)), bytes(eth() / ARP()),
              bytes(eth() / IPv6(**V6) / ICMPv6EchoRequest()), bytes(eth() / IP() / ICMP())]
    assert run_frames(decoder, frames) == [XDP_PASS] * 4
    assert decoder.read().reasons == {"not_mirror": 4}


def test_timestamps_follow_the_wall_clock(decoder):
    """first/last seen come from the program's clock: timer-kept (10 ms ticks), or on 5.10 each
    frame's time."""
    start = time.time()
    run_frames(decoder, [erspan2(seq=1)])
    time.sleep(0.2)
    run_frames(decoder, [erspan2(seq=2)])
    (flow,) = decoder.read().flows
    (session,) = decoder.read().sessions
    assert start - 0.02 <= flow.first_seen < start + 0.05
    assert 0.15 <= flow.last_seen - flow.first_seen <= 0.3
    assert flow.last_seen <= time.time() + 0.02
    # each read converts monotonic to wall time with its own offset: equal to within a microsecond
    assert session.first_seen == pytest.approx(flow.first_seen, abs=1e-3)
    assert session.last_seen == pytest.approx(flow.last_seen, abs=1e-3)


def test_session_table_is_bounded_and_evictions_counted(make_decoder):
    decoder = make_decoder(max_sessions=8)
    run_frames(decoder, [erspan2(session_id=i, seq=1) for i in range(20)])
    stats = decoder.read().stats
    assert 0 < stats["sessions"] <= 8 and stats["sessions"] + stats["session_evictions"] == 20


def test_a_full_session_set_evicts_the_stream_seen_least_recently(make_decoder):
    """max_sessions=8 is one set of 8 slots: the 9th stream takes the slot of the one left
    idle longest (the timer-kept clock ticks every 10 ms, so the idle one is older by ticks)."""
    decoder = make_decoder(max_sessions=8)
    run_frames(decoder, [erspan2(session_id=i, seq=1) for i in range(8)])
    time.sleep(0.05)
    run_frames(decoder, [erspan2(session_id=i, seq=2) for i in range(8) if i != 5])
    time.sleep(0.05)
    run_frames(decoder, [erspan2(session_id=8, seq=1)])
    sessions = {s.session_id: s.packets for s in decoder.read().sessions}
    assert sessions == {**{i: 2 for i in range(8) if i != 5}, 8: 1}
    assert decoder.read().stats["session_evictions"] == 1
    # stream 5 comes back into the slot of the least recent (0..4, 6, 7 at seq 2, then 8):
    # a fresh slot, whose sequence mark starts at this packet, so no loss is claimed
    time.sleep(0.05)
    run_frames(decoder, [erspan2(session_id=i, seq=3) for i in (1, 2, 3, 4, 6, 7, 8)])
    run_frames(decoder, [erspan2(session_id=5, seq=50), erspan2(session_id=5, seq=53)])
    back = {s.session_id: s for s in decoder.read().sessions}
    assert 0 not in back and (back[5].packets, back[5].lost) == (2, 2)


def _on_cpu(cpu: int, work) -> int:
    """work() in a child process bound to one CPU (it shares the parent's loaded program)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.sched_setaffinity(0, {cpu})
            work()
            code = 0
        finally:
            os._exit(code)
    return pid


def test_counts_exact_with_one_flow_on_two_cpus(decoder):
    """Both CPUs run the same frame back to back in the kernel (test-run repeat): the shared
    flow and session entries take every increment (atomic adds), none lost to the race."""
    cpus = sorted(os.sched_getaffinity(0))
    require(len(cpus) >= 2, "needs two CPUs")
    frame, repeat = erspan2(session_id=12), 300_000
    pids = [_on_cpu(cpu, lambda: decoder.program.test_run(frame, repeat)) for cpu in cpus[:2]]
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    (flow,) = decoder.read().flows
    (session,) = decoder.read().sessions
    length = library([frame]).flows()[0].bytes
    assert (flow.packets, flow.bytes) == (2 * repeat, 2 * repeat * length)
    assert (session.packets, session.lost) == (2 * repeat, 0)


def test_kernel_records_feed_the_agent_records(decoder):
    """The kernel path's Flow/Session go through the same neutral-record conversion."""
    run_frames(decoder, [erspan2(session_id=4, seq=1), erspan2(session_id=4, seq=3)])
    (flow,) = flow_records(decoder.read().flows)
    (session,) = session_stats(decoder.read().sessions)
    assert (flow.erspan_type, flow.session_id, flow.packets, flow.src, flow.dport) == (2, 4, 2, "192.0.2.1", 443)
    assert (session.outer_src, session.gre_proto, session.packets, session.lost) == ("10.0.0.1", 0x88BE, 2, 1)


def test_new_streams_raced_on_two_cpus_get_one_slot_each(make_decoder):
    """Both CPUs start together and meet the same 1,024 new streams in the same order, so their
    first packets race for the same free slots: each stream still ends with one slot holding
    every packet (the table is sized so that no set overflows)."""
    cpus = sorted(os.sched_getaffinity(0))
    require(len(cpus) >= 2, "needs two CPUs")
    decoder = make_decoder(max_sessions=65536)
    frame = erspan2()
    frames, passes = [variant(frame, session_id=i) for i in range(1024)], 5
    start = time.monotonic() + 0.2

    def send():
        while time.monotonic() < start:
            pass
        for _ in range(passes):
            for frame in frames:
                decoder.program.test_run(frame)

    pids = [_on_cpu(cpu, send) for cpu in cpus[:2]]
    assert all(os.waitpid(pid, 0)[1] == 0 for pid in pids)
    sessions = decoder.read().sessions
    assert sorted(s.session_id for s in sessions) == list(range(1024))
    assert {s.packets for s in sessions} == {2 * passes}
    assert decoder.read().stats["session_evictions"] == 0


def test_top_flows_picks_the_largest_by_bytes_or_packets(decoder):
    assert decoder.read(3).flows == []
    big, many, small = (inner_frame(tcp(sport=port) / Raw(b"b" * size)) for port, size in ((1, 900), (2, 10), (3, 300)))
    run_frames(decoder, [erspan2(inner=big, seq=1), erspan2(inner=small, seq=2)]
               + [erspan2(inner=many, seq=3 + i) for i in range(5)])
    assert [f.sport for f in decoder.read(2).flows] == [1, 3]  # IP bytes: 960, 360, then 5 x 70
    assert [f.sport for f in decoder.read(1, by="packets").flows] == [2]
    assert sorted(f.sport for f in decoder.read(10).flows) == [1, 2, 3]


def test_the_build_follows_the_kernel(monkeypatch):
    """bpf_timer_init for XDP (5.15+): the timer build; without it, the 5.10 one."""
    require_root()
    from sonic_agent.mirror import xdp
    assert xdp.kernel_has_helper(6, 1)  # XDP may call bpf_map_lookup_elem on any kernel
    assert xdp.object_for_kernel() == OBJECT  # this kernel has timers
    monkeypatch.setattr(xdp, "kernel_has_helper", lambda prog_type, helper: False)
    assert xdp.object_for_kernel() == OBJECT_5_10
