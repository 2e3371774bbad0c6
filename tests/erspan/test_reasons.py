"""One crafted frame per malformed and skipped reason: counted by that reason, never raised.

The table below must cover every reason the library names, so a new reason needs a case.
"""
from __future__ import annotations

import struct

import pytest
from scapy.contrib.erspan import ERSPAN_II
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt
from scapy.layers.l2 import ARP
from scapy.packet import Raw

from erspan import MirrorCollector
from erspan.reasons import MALFORMED, SKIPPED

from .craft import GRE, OUTER, erspan2, erspan3, eth, gre, inner_frame, inner_tcp

OUTER_ETH = bytes(eth(type=0x0800))


def in_bridged_gre(inner_l3: bytes, ethertype: int = 0x0800) -> bytes:
    """A GRE 0x6558 frame whose mirrored Ethernet frame carries `inner_l3` bytes."""
    inner = bytes(eth(type=ethertype)) + inner_l3
    return gre(0x6558, Raw(inner))


def ipv4_header(**fields) -> bytes:
    return bytes(IP(src="1.1.1.1", dst="2.2.2.2", **fields) / UDP() / Raw(b"u" * 8))


def hbh_claiming(length_units: int) -> bytes:
    """IPv6 with a hop-by-hop header claiming (units + 1) * 8 bytes, followed by less."""
    return bytes(IPv6(nh=0, plen=16)) + bytes([17, length_units]) + b"\x00" * 14


DEST_CHAIN = bytes(IPv6(src="::1", dst="::2") / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60)
                   / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60)
                   / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60) / IPv6ExtHdrDestOpt(nh=60)
                   / IPv6ExtHdrDestOpt(nh=17) / UDP())

CASES = {
    "outer_l2_truncated": (b"\x00" * 10, {}),
    "outer_ip_truncated": (OUTER_ETH + ipv4_header(proto=47)[:12], {}),
    "outer_ip_version": (OUTER_ETH + b"\x55" + ipv4_header(proto=47)[1:], {}),
    "outer_ipv4_header_length": (OUTER_ETH + ipv4_header(ihl=3, proto=47), {}),
    "outer_ipv4_total_length": (OUTER_ETH + ipv4_header(len=12, proto=47), {}),
    "outer_ipv6_ext_truncated": (bytes(eth(type=0x86DD)) + hbh_claiming(20), {}),
    "outer_ipv6_ext_chain": (bytes(eth(type=0x86DD)) + DEST_CHAIN, {}),
    "gre_truncated": (bytes(eth() / IP(proto=47, **OUTER)) + b"\x00\x00", {}),
    "gre_routing": (gre(0x88BE, inner_frame(), routing_present=1), {}),
    "gre_version": (gre(0x88BE, inner_frame(), version=1), {}),
    "erspan_truncated": (erspan2()[:14 + 20 + 8 + 4], {}),
    "erspan_version": (gre(0x88BE, ERSPAN_II(ver=3) / inner_frame(), seqnum_present=1), {}),
    "vendor_header_truncated": (gre(0x8949, Raw(b"\x01" * 10)), {}),
    "inner_l2_truncated": (gre(0x6558, Raw(b"\x02" * 9)), {}),
    "inner_ip_truncated": (in_bridged_gre(ipv4_header()[:15]), {}),
    "inner_ip_version": (in_bridged_gre(b"\x65" + ipv4_header()[1:]), {}),
    "inner_ipv4_header_length": (in_bridged_gre(ipv4_header(ihl=4)), {}),
    "inner_ipv4_total_length": (in_bridged_gre(ipv4_header(len=8)), {}),
    "inner_ipv6_ext_truncated": (in_bridged_gre(hbh_claiming(30), 0x86DD), {}),
    "inner_ipv6_ext_chain": (in_bridged_gre(DEST_CHAIN, 0x86DD), {}),
    "not_mirror": (bytes(eth() / IP() / UDP(dport=53)), {}),
    "gre_not_mirror": (gre(0x880B, Raw(b"ppp"), version=1), {}),
    "outer_fragment": (bytes(eth() / IP(proto=47, frag=185, **OUTER) / Raw(b"f" * 32)), {}),
    "erspan_frame_type": (erspan3(ft=7), {}),
    "inner_not_ip": (erspan2(inner=eth() / ARP()), {}),
    "unsupported_linktype": (erspan2(), {"linktype": 147}),
}


def test_every_reason_has_a_case():
    assert set(CASES) == set(MALFORMED) | set(SKIPPED)


@pytest.mark.parametrize("reason", sorted(CASES))
def test_reason_counted(reason):
    frame, options = CASES[reason]
    collector = MirrorCollector()
    collector.add_packets([frame, erspan2()], **options)  # a well-formed frame in the same batch
    stats = collector.stats()
    counted = {**stats["malformed"], **stats["skipped"]}
    expected = 2 if options else 1  # a link type applies to both frames
    assert counted == {reason: expected}
    assert stats["flow_packets"] == 2 - expected


def test_malformed_counted_per_session():
    collector = MirrorCollector()
    bad_version = gre(0x88BE, ERSPAN_II(ver=3, session_id=0) / inner_frame(), seqnum_present=1)
    routing = gre(0x88BE, inner_frame(), routing_present=1)
    collector.add_packets([bad_version, bad_version, erspan2(session_id=5), routing])
    sessions = {s.session_id: s for s in collector.sessions()}
    assert sessions[0].malformed == {"erspan_version": 2} and sessions[0].packets == 2
    assert sessions[None].malformed == {"gre_routing": 1}
    assert sessions[5].malformed == {} and sessions[5].packets == 1


def test_erspan_iii_subheader_announced_but_cut():
    head = len(bytes(eth() / IP(**OUTER) / GRE(proto=0x22EB)))
    frame = bytearray(erspan3())
    frame[head + 11] |= 1  # o=1: an 8-byte platform sub-header follows, but the frame ends early
    collector = MirrorCollector()
    collector.add_packets([bytes(frame[:head + 12 + 4])])
    assert collector.stats()["malformed"] == {"erspan_truncated": 1}


def test_empty_and_tiny_frames():
    collector = MirrorCollector()
    collector.add_packets([b"", b"\x01", struct.pack("!H", 0x0800) * 7, inner_tcp().build()])
    stats = collector.stats()
    assert stats["malformed"] == {"outer_l2_truncated": 2, "outer_ip_truncated": 1}
    assert stats["skipped"] == {"not_mirror": 1}


def test_header_fields_are_not_read_past_the_capture():
    # the next frame's bytes follow in the same buffer: a cut ERSPAN header must not borrow them
    cut = erspan2(session_id=5)[:14 + 20 + 8 + 2]
    collector = MirrorCollector()
    collector.add_packets([cut, erspan2(session_id=6)])
    assert sorted((s.session_id is None, s.packets) for s in collector.sessions()) == [(False, 1), (True, 1)]
    assert collector.stats()["malformed"] == {"erspan_truncated": 1}
