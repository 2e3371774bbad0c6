"""Frames for the mirror benchmarks: the real ERSPAN/GRE fixtures from ../shared when present,
else frames of every encapsulation built here with scapy."""
from __future__ import annotations

from pathlib import Path
from typing import List

from erspan import CaptureReader

FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures" / "pcaps"


def fixture_frames() -> List[bytes]:
    """Every frame of every fixture that has an expected decode (the ERSPAN/GRE captures)."""
    frames = []
    for expected in sorted(FIXTURES.glob("*.expected.txt")):
        for batch in CaptureReader(expected.with_name(expected.name.replace(".expected.txt", ".pcap"))):
            frames += [bytes(batch.data[s:s + c]) for s, c in zip(batch.start.tolist(), batch.caplen.tolist())]
    return frames


def crafted_frames() -> List[bytes]:
    """One frame per encapsulation and several inner layouts (scapy builds them)."""
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
    from scapy.layers.inet import ICMP, IP, TCP, UDP
    from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import GRE, Dot1AD, Dot1Q, Ether
    from scapy.packet import Raw

    src, dst = "02:00:00:00:00:01", "02:00:00:00:00:02"
    outer = Ether(src=src, dst=dst) / IP(src="10.0.0.1", dst="10.0.0.2")
    inners = [Ether(src=src, dst=dst) / IP(src="192.0.2.1", dst="192.0.2.2") / TCP(sport=1000, dport=80, flags="PA") / Raw(b"a" * 100),
              Ether(src=src, dst=dst) / Dot1Q(vlan=10) / IP(src="192.0.2.3", dst="192.0.2.4") / UDP(sport=53, dport=5353),
              Ether(src=src, dst=dst, type=0x88A8) / Dot1AD(vlan=20) / Dot1Q(vlan=30) / IP() / ICMP(),
              Ether(src=src, dst=dst) / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop() / UDP(sport=1, dport=2)]
    frames = []
    for seq, inner in enumerate(inners, 1):
        frames += [outer / GRE(proto=0x88BE) / inner,
                   outer / GRE(seqnum_present=1, sequence_number=seq) / ERSPAN_II(session_id=7, vlan=5) / inner,
                   outer / GRE(proto=0x22EB) / ERSPAN_III(session_id=8, d=seq & 1) / inner,
                   outer / GRE(proto=0x22EB) / ERSPAN_III(session_id=9, o=1) / ERSPAN_PlatformSpecific(platf_id=3) / inner,
                   outer / GRE(proto=0x8949) / Raw(b"\x00" * 22) / inner,
                   outer / GRE(proto=0x6558, key_present=1, key=1) / inner,
                   outer / GRE(proto=0x0800) / inner.payload if inner.type == 0x0800 else outer / inner,
                   Ether(src=src, dst=dst) / IPv6(src="2001:db8::a", dst="2001:db8::b") / GRE(proto=0x6558) / inner]
    return [bytes(f) for f in frames]


def corpus() -> List[bytes]:
    return fixture_frames() or crafted_frames()
