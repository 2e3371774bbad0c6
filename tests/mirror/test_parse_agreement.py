"""One header walk (bpf/parse.h, erspan/layers.py): VLAN tag types and IPv6 extension headers
read the same by the port probe (its XDP and TC programs), the XDP mirror decoder (the frame
mirrored inside ERSPAN II, and as the outer frame for tags) and the erspan library. Every
program runs on the crafted frame through BPF_PROG_TEST_RUN."""
from __future__ import annotations

import pytest
from scapy.contrib.erspan import ERSPAN_II
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting
from scapy.layers.ipsec import AH
from scapy.layers.l2 import GRE, Dot1AD, Dot1Q
from scapy.packet import Raw

from sonic_agent.bpf import BpfObject
from sonic_agent.probes import kernel as pk
from sonic_agent.probes.reader import ProbeMaps
from tests.erspan.craft import OUTER, eth

from .compare import flow_table, library, run_frames

TEST_RUN_IFINDEX = 1  # BPF_PROG_TEST_RUN runs XDP and TC programs as on loopback
V6 = dict(src="2001:db8::2", dst="2001:db8::1")
BGP4 = IP(src="192.0.2.2", dst="192.0.2.1") / TCP(sport=40000, dport=179)
BGP6 = TCP(sport=40000, dport=179)


def tags(*tpids_and_vlans):
    """An Ethernet header with stacked tags: (tpid, vlan) each, outermost first."""
    head = eth(type=tpids_and_vlans[0][0])
    for i, (_, vlan) in enumerate(tpids_and_vlans):
        after = tpids_and_vlans[i + 1][0] if i + 1 < len(tpids_and_vlans) else None
        head = head / (Dot1Q(vlan=vlan, type=after) if after else Dot1Q(vlan=vlan))
    return head


def ext(nh: int, length_units: int = 0) -> Raw:
    """A generic extension header (8 bytes per length unit beyond the first 8)."""
    return Raw(bytes([nh, length_units]) + bytes(6 + 8 * length_units))


# name -> (the layer 2 header, the probe's class of it carrying BGP over IPv4, the decoder's and
# library's flow (proto, dport, vlan) of that frame mirrored, or the reason they give instead)
TAGGED = {
    "802.1q": (tags((0x8100, 10)), "bgp", (6, 179, 10)),
    "802.1ad_802.1q": (eth(type=0x88A8) / Dot1AD(vlan=11) / Dot1Q(vlan=20), "bgp", (6, 179, 11)),
    "9100_802.1q": (tags((0x9100, 12), (0x8100, 20)), "bgp", (6, 179, 12)),
    "9200": (tags((0x9200, 13)), "bgp", (6, 179, 13)),
    "ttag_802.1q": (eth(type=0x8988) / Raw(b"\x00\x01\x02\x03\x04\x05\x81\x00") / Dot1Q(vlan=44),
                    "bgp", (6, 179, 44)),
    "four_tags": (tags((0x88A8, 1), (0x8100, 2), (0x9100, 3), (0x8100, 4)), "bgp", (6, 179, 1)),
    "five_tags": (tags((0x88A8, 1), (0x8100, 2), (0x9100, 3), (0x8100, 4), (0x8100, 5)), "other_l2", "inner_not_ip"),
    "not_a_tag_0x9300": (eth(type=0x9300) / Raw(b"\x00\x0a\x08\x00"), "other_l2", "inner_not_ip"),
}
V6_EXT = {
    "hop_routing_dest": (IPv6(**V6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / BGP6,
                         "bgp", (6, 179, None)),
    "first_fragment": (IPv6(**V6) / IPv6ExtHdrFragment(m=1, id=7) / BGP6, "bgp", (6, 179, None)),
    "later_fragment_ends_the_walk": (IPv6(**V6) / IPv6ExtHdrFragment(offset=5, id=7, nh=60) / ext(6) / BGP6,
                                     "other_ip6", (60, None, None)),
    "ah": (IPv6(**V6, nh=51) / AH(nh=6, payloadlen=4, spi=1, seq=1, icv=bytes(12)) / BGP6, "bgp", (6, 179, None)),
    "mobility_hip_shim6": (IPv6(**V6, nh=135) / ext(139, 1) / ext(140) / ext(6) / BGP6, "bgp", (6, 179, None)),
    "eight_headers": (IPv6(**V6, nh=60) / ext(60) / ext(60) / ext(60) / ext(60) / ext(60) / ext(60) / ext(60)
                      / ext(6) / BGP6, "bgp", (6, 179, None)),
    "nine_headers": (IPv6(**V6, nh=60) / ext(60) / ext(60) / ext(60) / ext(60) / ext(60) / ext(60) / ext(60)
                     / ext(60) / ext(6) / BGP6, "other_ip6", "inner_ipv6_ext_chain"),
    "cut_header": (IPv6(**V6, nh=0) / Raw(bytes([6, 2]) + bytes(6)), "other_ip6", "inner_ipv6_ext_truncated"),
}
CASES = {**{name: (bytes(head / BGP4), klass, outcome) for name, (head, klass, outcome) in TAGGED.items()},
         **{name: (bytes(eth() / packet), klass, outcome) for name, (packet, klass, outcome) in V6_EXT.items()}}


@pytest.fixture(scope="module")
def probe():
    """The probe object with a port entry for the test-run device, both directions."""
    from sonic_agent.bpf import object_path
    from tests.conftest import require, require_root
    require_root()
    path = object_path(pk.OBJECT)
    require(path.is_file(), f"{path} not built (make -C bpf)")
    with BpfObject(str(path), skip=(pk.PROG_DROPS,)) as obj:
        maps = ProbeMaps({name: obj.map(name) for name in pk.PINNED_MAPS})
        for d in (0, 1):
            maps.maps[pk.MAP_PORTS].update(pk.PortKey(TEST_RUN_IFINDEX, d), maps.maps[pk.MAP_PORTS].zero_value())
        yield obj, maps


def probe_class(probe, prog: str, frame: bytes) -> str:
    """The class one run of `prog` counted the frame in."""
    obj, maps = probe

    def packets():
        return {(c.direction, c.klass): c.packets for c in maps.ports({TEST_RUN_IFINDEX: "lo"})[0]}
    before = packets()
    obj.program(prog).test_run(frame)
    moved = [key for key, n in packets().items() if n != before[key]]
    assert len(moved) == 1, moved
    return moved[0][1]


def mirrored(frame: bytes, session_id: int = 6) -> bytes:
    return bytes(eth() / IP(proto=47, **OUTER) / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
                 / ERSPAN_II(session_id=session_id) / Raw(frame))


def outcome(reading):
    """(proto, dport, vlan) of the one flow, or the one reason a frame without a flow got."""
    if reading.flows:
        (flow,) = reading.flows
        return flow.proto, flow.dport, flow.vlan
    return next(name for name in {**reading.stats["malformed"], **reading.stats["skipped"]})


@pytest.mark.parametrize("case", sorted(CASES))
def test_probe_decoder_and_library_read_headers_alike(probe, decoder, case):
    frame, klass, expected = CASES[case]
    assert probe_class(probe, pk.PROG_XDP, frame) == klass
    assert probe_class(probe, pk.PROG_TC_INGRESS, frame) == klass  # TC's global walks: same answer
    frames = [mirrored(frame)]
    run_frames(decoder, frames)
    kernel, userspace = decoder.read(), library(frames).read()
    assert outcome(userspace) == outcome(kernel) == expected
    assert flow_table(kernel.flows) == flow_table(userspace.flows)


@pytest.mark.parametrize("case", sorted(name for name, (_, klass, _) in TAGGED.items() if klass == "bgp"))
def test_outer_tags_walked_alike(decoder, case):
    """The same tags in front of the mirror stream's own outer IP header."""
    frames = [bytes(TAGGED[case][0] / IP(proto=47, **OUTER) / GRE(proto=0x88BE, seqnum_present=1, sequence_number=1)
                    / ERSPAN_II(session_id=7) / eth() / BGP4)]
    run_frames(decoder, frames)
    kernel, userspace = decoder.read(), library(frames).read()
    assert [(f.outer_src, f.session_id, f.dport) for f in kernel.flows] == [(OUTER["src"], 7, 179)]
    assert flow_table(kernel.flows) == flow_table(userspace.flows)
