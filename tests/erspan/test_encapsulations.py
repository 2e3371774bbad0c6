"""Every encapsulation, built with scapy, decodes to the flow the test put inside it."""
from __future__ import annotations

import pytest
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_PlatformSpecific
from scapy.layers.inet import IP, TCP, UDP, IPOption_RR, fragment
from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.l2 import Dot1AD, Dot1Q
from scapy.layers.sctp import SCTP
from scapy.packet import Raw

from erspan import MirrorCollector

from .craft import (GRE, OUTER, erspan1, erspan2, erspan3, erspan3_platform, eth, gre, icmp_echo,
                    inner_frame, inner_tcp, udp_packet)

TCP_LEN = len(inner_tcp())


def only_flow(frames, **collector_args):
    collector = MirrorCollector(**collector_args)
    collector.add_packets(frames)
    stats = collector.stats()
    assert stats["flow_packets"] == len(frames), stats
    (flow,) = collector.flows()
    return flow, collector


def test_erspan_type_i():
    flow, _ = only_flow([erspan1()])
    assert (flow.erspan_type, flow.session_id, flow.direction) == (1, None, None)
    assert (flow.src, flow.dst, flow.proto, flow.sport, flow.dport) == ("192.0.2.1", "198.51.100.7", 6, 40000, 443)
    assert (flow.bytes, flow.tcp_flags, flow.dscp) == (TCP_LEN, 0x02, 46)


def test_erspan_type_ii_session_and_vlan_field():
    flow, collector = only_flow([erspan2(session_id=513, vlan=700)])
    assert (flow.erspan_type, flow.session_id, flow.vlan) == (2, 513, 700)
    (session,) = collector.sessions()
    assert (session.outer_src, session.outer_dst, session.gre_proto, session.session_id) == \
        ("10.0.0.1", "10.0.0.2", 0x88BE, 513)


def test_erspan_type_iii_direction_and_inner_tag_over_vlan_field():
    flow, _ = only_flow([erspan3(inner_frame(vlan=42), session_id=1023, direction=1, vlan=7)])
    assert (flow.erspan_type, flow.session_id, flow.direction, flow.vlan) == (3, 1023, "tx", 42)


def test_erspan_type_iii_platform_subheader():
    flow, _ = only_flow([erspan3(platform=erspan3_platform(), seq=4)])
    assert (flow.erspan_type, flow.src, flow.sport, flow.bytes) == (3, "192.0.2.1", 40000, TCP_LEN)


def test_erspan_type_iii_ip_frame_type():
    flow, _ = only_flow([erspan3(inner=icmp_echo(), ft=2)])
    assert (flow.src, flow.proto, flow.sport, flow.dport, flow.bytes) == ("192.0.2.9", 1, 8, 0, 84)


@pytest.mark.parametrize("vendor_len", [22, 16])
def test_gre_8949_vendor_header(vendor_len):
    frame = gre(0x8949, Raw(b"\xee" * vendor_len) / inner_frame())
    flow, collector = only_flow([frame], vendor_header_len=vendor_len)
    assert (flow.erspan_type, flow.src, flow.bytes) == (None, "192.0.2.1", TCP_LEN)
    assert collector.sessions()[0].gre_proto == 0x8949


def test_gre_transparent_ethernet_bridging():
    flow, _ = only_flow([gre(0x6558, inner_frame(vlan=12))])
    assert (flow.vlan, flow.src, flow.bytes) == (12, "192.0.2.1", TCP_LEN)


def test_gre_ipv4_and_ipv6_payloads():
    flow4, _ = only_flow([gre(0x0800, inner_tcp())])
    flow6, _ = only_flow([gre(0x86DD, udp_packet())])
    assert (flow4.src, flow4.proto, flow4.bytes) == ("192.0.2.1", 6, TCP_LEN)
    assert (flow6.src, flow6.dst, flow6.proto, flow6.sport, flow6.dport, flow6.bytes) == \
        ("2001:db8::1", "2001:db8::2", 17, 5353, 53, len(udp_packet()))


@pytest.mark.parametrize("fields", [dict(chksum_present=1), dict(key_present=1, key=0xABCD),
                                    dict(chksum_present=1, key_present=1, key=7,
                                         seqnum_present=1, sequence_number=99)])
def test_gre_optional_fields(fields):
    flow, collector = only_flow([gre(0x6558, inner_frame(), **fields)])
    assert (flow.src, flow.sport, flow.bytes) == ("192.0.2.1", 40000, TCP_LEN)


def test_outer_ipv6_with_extension_headers_and_outer_vlan():
    outer = IPv6(src="2001:db8:1::1", dst="2001:db8:2::2") / IPv6ExtHdrHopByHop() / \
        IPv6ExtHdrRouting(addresses=["2001:db8:3::3"]) / IPv6ExtHdrDestOpt()
    frame = bytes(eth() / Dot1Q(vlan=3) / outer / GRE(seqnum_present=1, sequence_number=1)
                  / ERSPAN_II(session_id=77) / inner_frame())
    flow, collector = only_flow([frame])
    assert (flow.erspan_type, flow.session_id, flow.src) == (2, 77, "192.0.2.1")
    assert collector.sessions()[0].outer_src == "2001:db8:1::1"


def test_raw_span_frames():
    frames = [bytes(eth() / Dot1Q(vlan=30) / inner_tcp()), bytes(eth() / inner_tcp(flags="A"))]
    collector = MirrorCollector(span=True)
    collector.add_packets(frames)
    flows = {f.vlan: f for f in collector.flows()}
    assert set(flows) == {30, None}
    assert all(f.erspan_type is None and f.session_id is None for f in flows.values())
    assert flows[None].tcp_flags == 0x10 and flows[30].bytes == TCP_LEN


@pytest.mark.parametrize("tags,vlan", [
    (lambda p: eth(type=0x88A8) / Dot1AD(vlan=100) / Dot1Q(vlan=200) / p, 100),
    (lambda p: eth(type=0x9100) / Dot1Q(vlan=300, type=0x8100) / Dot1Q(vlan=400) / p, 300),
    (lambda p: eth() / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / p, 1),
])
def test_inner_qinq(tags, vlan):
    flow, _ = only_flow([erspan2(inner=tags(inner_tcp()), vlan=999)])
    assert (flow.vlan, flow.src, flow.sport, flow.bytes) == (vlan, "192.0.2.1", 40000, TCP_LEN)


@pytest.mark.parametrize("packet,expect", [
    (IP(src="1.2.3.4", dst="5.6.7.8", options=[IPOption_RR()]) / UDP(sport=1, dport=2),
     ("1.2.3.4", 17, 1, 2)),
    (IP(src="1.2.3.4", dst="5.6.7.8") / SCTP(sport=36412, dport=36413), ("1.2.3.4", 132, 36412, 36413)),
    (IPv6(src="fe80::1", dst="ff02::1") / ICMPv6EchoRequest(), ("fe80::1", 58, 128, 0)),
    (IPv6(src="2001:db8::5", dst="2001:db8::6") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
     / IPv6ExtHdrFragment(m=1, offset=0, nh=6) / TCP(sport=7, dport=8, flags="FA"), ("2001:db8::5", 6, 7, 8)),
    (IP(src="1.2.3.4", dst="5.6.7.8", frag=100, proto=17) / Raw(b"z" * 40), ("1.2.3.4", 17, None, None)),
    (IPv6(src="2001:db8::5", dst="2001:db8::6") / IPv6ExtHdrFragment(offset=10, nh=17) / Raw(b"z" * 16),
     ("2001:db8::5", 17, None, None)),
])
def test_inner_protocols(packet, expect):
    flow, _ = only_flow([erspan2(inner=inner_frame(packet))])
    assert (flow.src, flow.proto, flow.sport, flow.dport) == expect
    assert flow.bytes == len(packet)


def test_tcp_flags_or_and_dscp_of_latest_packet():
    frames = [erspan2(inner_frame(inner_tcp(flags="S", tos=0))),
              erspan2(inner_frame(inner_tcp(flags="A", tos=0x28))),
              erspan2(inner_frame(inner_tcp(flags="FA", tos=0x48)))]
    flow, _ = only_flow(frames)
    assert (flow.packets, flow.tcp_flags, flow.dscp, flow.bytes) == (3, 0x13, 0x12, 3 * TCP_LEN)


def test_frames_with_inner_fcs_count_ip_bytes():
    frame = erspan2() + b"\xde\xad\xbe\xef"
    flow, _ = only_flow([frame])
    assert flow.bytes == TCP_LEN


def test_outer_first_fragment_decoded_later_fragments_counted():
    whole = IP(id=5, proto=47, **OUTER) / GRE(proto=0x6558) / inner_frame(inner_tcp(payload=b"y" * 400))
    pieces = [bytes(eth() / p) for p in fragment(whole, 200)]
    collector = MirrorCollector()
    collector.add_packets(pieces)
    (flow,) = collector.flows()
    assert (flow.packets, flow.bytes, flow.sport) == (1, len(inner_tcp(payload=b"y" * 400)), 40000)
    assert collector.stats()["skipped"] == {"outer_fragment": len(pieces) - 1}
    assert collector.sessions()[0].truncated == 0


@pytest.mark.parametrize("platform,info1,info2,index", [
    (3, 0x0123, 0x55, 0x0123), (1, 0x7, 0x00ABCDEF, 0x00ABCDEF), (5, 0x20042, 0, 0x0042),
    (7, 0xFEDCB, 0, 0xFEDCB), (0, 0x00011, 9, 0x00011), (12, 0x1, 0x2, None)])
def test_erspan_iii_platform_port_index(platform, info1, info2, index):
    flow, _ = only_flow([erspan3(platform=ERSPAN_PlatformSpecific(platf_id=platform, info1=info1, info2=info2))])
    assert flow.port_index == index


def test_erspan_ii_index_and_none_elsewhere():
    frame = gre(0x88BE, ERSPAN_II(session_id=3, index=0xABCDE) / inner_frame(), seqnum_present=1)
    assert only_flow([frame])[0].port_index == 0xABCDE
    assert only_flow([erspan3()])[0].port_index is None and only_flow([erspan1()])[0].port_index is None


def test_cisco_ptp_ttag_inside_the_mirrored_frame():
    ttag = eth(type=0x8988) / Raw(b"\x00\x01\x02\x03\x04\x05" + b"\x81\x00") / Dot1Q(vlan=44) / inner_tcp()
    flow, _ = only_flow([erspan2(inner=ttag)])
    assert (flow.vlan, flow.src, flow.sport, flow.bytes) == (44, "192.0.2.1", 40000, TCP_LEN)
    cut = erspan2(inner=eth(type=0x8988) / Raw(b"\x00" * 5))
    collector = MirrorCollector()
    collector.add_packets([cut])
    assert collector.stats()["malformed"] == {"inner_l2_truncated": 1}


def test_cisco_isl_inside_the_mirrored_frame():
    frame = bytes(eth() / inner_tcp())
    # ISL: destination (5 bytes), type/user, source (6), length, AAAA03, HSA (3), VLAN<<1|BPDU,
    # index, reserved; then the original frame and its CRC
    isl = (b"\x01\x00\x0c\x00\x00" + b"\x00" + b"\x02\x00\x00\x00\x00\x09" + len(frame).to_bytes(2, "big")
           + b"\xaa\xaa\x03" + b"\x02\x00\x00" + (301 << 1).to_bytes(2, "big") + b"\x00" * 4)
    assert len(isl) == 26
    flow, _ = only_flow([erspan2(inner=Raw(isl + frame + b"\x00" * 4), vlan=5)])
    assert (flow.vlan, flow.src, flow.sport, flow.bytes) == (301, "192.0.2.1", 40000, TCP_LEN)
