"""Mirror traffic the tests build themselves: scapy for the packets, struct for pcap files.

Every Ethernet header names both addresses (`eth`): scapy would otherwise resolve them from the
host's routes, with ARP on the host's network. Scapy takes about 1.5 ms to build an ERSPAN
frame, so thousands of frames are `variant`s of one it built."""
from __future__ import annotations

import struct
from typing import Iterable, Optional, Sequence

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.packet import Raw

OUTER = dict(src="10.0.0.1", dst="10.0.0.2")
SRC_MAC, DST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def eth(src=SRC_MAC, dst=DST_MAC, **fields) -> Ether:
    return Ether(src=src, dst=dst, **fields)


def inner_tcp(src="192.0.2.1", dst="198.51.100.7", sport=40000, dport=443, flags="S", tos=0xB8,
              payload=b"x" * 20):
    return IP(src=src, dst=dst, tos=tos) / TCP(sport=sport, dport=dport, flags=flags) / Raw(payload)


def inner_frame(packet=None, vlan: Optional[int] = None):
    packet = inner_tcp() if packet is None else packet
    head = eth()
    return head / Dot1Q(vlan=vlan) / packet if vlan is not None else head / packet


def erspan2(inner=None, session_id=5, seq=1, vlan=0, t=0, outer=None, index=0) -> bytes:
    return bytes(eth() / IP(**(outer or OUTER)) / GRE(seqnum_present=1, sequence_number=seq)
                 / ERSPAN_II(session_id=session_id, vlan=vlan, t=t, index=index) / (inner or inner_frame()))


# Byte offsets in an erspan2() frame: outer IPv4 without options, GRE with a sequence number,
# ERSPAN II, then (for sport) an untagged inner IPv4 packet without options carrying TCP.
GRE_SEQ_AT = 14 + 20 + 4
ERSPAN_SESSION_AT = 14 + 20 + 8 + 2  # 16 bits: COS (3), En (2), T (1), session id (10)
INNER_TCP_AT = 14 + 20 + 8 + 8 + 14 + 20


def variant(frame: bytes, seq: Optional[int] = None, session_id: Optional[int] = None,
            sport: Optional[int] = None) -> bytes:
    """`frame` (from erspan2()) with another GRE sequence number, session id or inner TCP
    source port; the TCP checksum follows the port (RFC 1624), so the bytes are what scapy builds."""
    out = bytearray(frame)
    if seq is not None:
        struct.pack_into("!I", out, GRE_SEQ_AT, seq)
    if session_id is not None:
        (word,) = struct.unpack_from("!H", out, ERSPAN_SESSION_AT)
        struct.pack_into("!H", out, ERSPAN_SESSION_AT, word & ~0x3FF | session_id)
    if sport is not None:
        old, check = struct.unpack_from("!H", out, INNER_TCP_AT)[0], struct.unpack_from("!H", out, INNER_TCP_AT + 16)[0]
        total = (~check & 0xFFFF) + (~old & 0xFFFF) + sport
        while total >> 16:
            total = (total & 0xFFFF) + (total >> 16)
        struct.pack_into("!H", out, INNER_TCP_AT, sport)
        struct.pack_into("!H", out, INNER_TCP_AT + 16, ~total & 0xFFFF)
    return bytes(out)


SWITCHES = ("192.168.195.67", "192.168.195.73")  # two switches, one collector


def two_switches_one_session_id():
    """Two switches (outer sources) mirroring the same conversation to one collector under the
    same ERSPAN session id, each numbering its own sequence: 3 frames from the first, 4 from
    the second, interleaved. Two streams, so two flows."""
    order = [(1, 0), (1, 1), (2, 0), (2, 1), (3, 0), (3, 1), (4, 1)]
    return [erspan2(session_id=5, seq=seq, outer=dict(src=SWITCHES[i], dst="10.0.0.2"))
            for seq, i in order]


def erspan3(inner=None, session_id=9, direction=0, vlan=0, seq=None, ft=0, platform=None,
            t=0) -> bytes:
    gre = GRE(proto=0x22EB) if seq is None else GRE(proto=0x22EB, seqnum_present=1, sequence_number=seq)
    header = ERSPAN_III(session_id=session_id, d=direction, vlan=vlan, ft=ft, t=t,
                        o=1 if platform is not None else 0)
    if platform is not None:
        header = header / platform
    return bytes(eth() / IP(**OUTER) / gre / header / (inner or inner_frame()))


def erspan3_platform():
    return ERSPAN_PlatformSpecific(platf_id=3, info1=17, info2=0x12345678)


def erspan1(inner=None) -> bytes:
    return bytes(eth() / IP(**OUTER) / GRE(proto=0x88BE) / (inner or inner_frame()))


def gre(proto: int, payload, outer_ip=None, **gre_fields) -> bytes:
    return bytes(eth() / (outer_ip or IP(**OUTER)) / GRE(proto=proto, **gre_fields) / payload)


def icmp_echo(src="192.0.2.9", dst="192.0.2.10"):
    return IP(src=src, dst=dst) / ICMP(type=8, code=0) / Raw(b"p" * 56)


def udp_packet(src="2001:db8::1", dst="2001:db8::2", sport=5353, dport=53):
    return IPv6(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(b"q" * 30)


def write_pcap(path, frames: Sequence[bytes], timestamps: Optional[Iterable[float]] = None,
               linktype: int = 1, big_endian: bool = False, nanoseconds: bool = False,
               wirelens: Optional[Sequence[int]] = None) -> None:
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nanoseconds else 0xA1B2C3D4
    units = 10**9 if nanoseconds else 10**6
    out = bytearray(struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype))
    timestamps = list(timestamps) if timestamps is not None else [1700000000.0 + i for i in range(len(frames))]
    for i, (frame, ts) in enumerate(zip(frames, timestamps)):
        seconds = int(ts)
        wire = wirelens[i] if wirelens else len(frame)
        out += struct.pack(order + "IIII", seconds, round((ts - seconds) * units), len(frame), wire)
        out += frame
    with open(path, "wb") as fh:
        fh.write(out)
