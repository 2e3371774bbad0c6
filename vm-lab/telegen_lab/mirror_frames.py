"""What the lab's ASIC does to one frame crossing a mirrored port: the EVERFLOW ACL match and
the ERSPAN II/III encapsulation (telegen_lab.mirroring follows CONFIG_DB and moves frames).

Matching reads the frame with struct (Ethernet, one 802.1Q tag, IPv4 or IPv6 with no
extension headers, TCP/UDP/SCTP ports, TCP flags), the fields SONiC's ACL_RULE names:
SRC_IP, DST_IP, SRC_IPV6, DST_IPV6, IP_PROTOCOL, L4_SRC_PORT(_RANGE), L4_DST_PORT(_RANGE),
TCP_FLAGS (value/mask), VLAN_ID, ETHER_TYPE. The encapsulation is what sonic-swss asks of the
ASIC: outer IPv4 from src_ip to dst_ip with the session's dscp and ttl, GRE with a sequence
number per session, ERSPAN II (gre_type 0x88be: session id, VLAN, the port index) or III
(0x22eb: also the direction bit, a timestamp and the port in platform sub-header id 3),
0x8949 with 22 vendor bytes (Spectrum), any other type with the frame right after GRE.
"""
from __future__ import annotations

import ipaddress
import struct
import time
from dataclasses import dataclass
from typing import Mapping, Optional, Tuple

GRE_ERSPAN2, GRE_ERSPAN3, GRE_VENDOR = 0x88BE, 0x22EB, 0x8949
VENDOR_HEADER = bytes(22)


@dataclass(frozen=True)
class Packet:
    """The fields an ACL rule can match; None where the frame has none."""

    ethertype: int
    vlan: Optional[int] = None
    src: Optional[ipaddress._BaseAddress] = None
    dst: Optional[ipaddress._BaseAddress] = None
    proto: Optional[int] = None
    sport: Optional[int] = None
    dport: Optional[int] = None
    tcp_flags: Optional[int] = None


def parse(frame: bytes) -> Packet:
    if len(frame) < 14:
        return Packet(0)
    ethertype, off, vlan = struct.unpack_from("!H", frame, 12)[0], 14, None
    if ethertype in (0x8100, 0x88A8) and len(frame) >= 18:
        vlan = struct.unpack_from("!H", frame, 14)[0] & 0x0FFF
        ethertype, off = struct.unpack_from("!H", frame, 16)[0], 18
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        proto = frame[off + 9]
        src, dst = ipaddress.IPv4Address(frame[off + 12:off + 16]), ipaddress.IPv4Address(frame[off + 16:off + 20])
        l4 = off + ihl if struct.unpack_from("!H", frame, off + 6)[0] & 0x1FFF == 0 else None
    elif ethertype == 0x86DD and len(frame) >= off + 40:
        proto = frame[off + 6]
        src, dst = ipaddress.IPv6Address(frame[off + 8:off + 24]), ipaddress.IPv6Address(frame[off + 24:off + 40])
        l4 = off + 40
    else:
        return Packet(ethertype, vlan)
    sport = dport = flags = None
    if l4 is not None and proto in (6, 17, 132) and len(frame) >= l4 + 4:
        sport, dport = struct.unpack_from("!HH", frame, l4)
        if proto == 6 and len(frame) >= l4 + 14:
            flags = frame[l4 + 13]
    return Packet(ethertype, vlan, src, dst, proto, sport, dport, flags)


def _range(text: str) -> Tuple[int, int]:
    low, _, high = text.partition("-")
    return int(low), int(high or low)


def rule_matches(rule: Mapping[str, str], p: Packet) -> bool:
    """Every match field of the rule holds for the packet (a field it cannot have fails)."""
    for name, value in rule.items():
        if name in ("SRC_IP", "SRC_IPV6", "DST_IP", "DST_IPV6"):
            address = p.src if name.startswith("SRC") else p.dst
            network = ipaddress.ip_network(value, strict=False)
            if address is None or address.version != network.version or address not in network:
                return False
        elif name == "IP_PROTOCOL":
            if p.proto != int(value, 0):
                return False
        elif name in ("L4_SRC_PORT", "L4_SRC_PORT_RANGE", "L4_DST_PORT", "L4_DST_PORT_RANGE"):
            port = p.sport if "SRC" in name else p.dport
            low, high = _range(value)
            if port is None or not low <= port <= high:
                return False
        elif name == "TCP_FLAGS":
            flags, _, mask = value.partition("/")
            if p.tcp_flags is None or p.tcp_flags & int(mask or "0xff", 0) != int(flags, 0):
                return False
        elif name == "VLAN_ID":
            if p.vlan != int(value):
                return False
        elif name == "ETHER_TYPE":
            if p.ethertype != int(value, 0):
                return False
    return True


def ipv4_header(src: str, dst: str, dscp: int, ttl: int, payload_len: int, ident: int) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, dscp << 2, 20 + payload_len, ident & 0xFFFF, 0x4000, ttl, 47, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]


def encapsulate(inner: bytes, gre_type: int, seq: int, session_id: int, port_index: int, egress: bool,
                truncated: bool) -> bytes:
    """GRE (with its sequence number) and the mirror header, then the mirrored frame."""
    gre = struct.pack("!HHI", 0x1000, gre_type, seq & 0xFFFFFFFF)
    t = 1 << 10 if truncated else 0
    if gre_type == GRE_ERSPAN2:
        return gre + struct.pack("!II", (1 << 28) | t | session_id, port_index & 0xFFFFF) + inner
    if gre_type == GRE_ERSPAN3:
        stamp = int(time.time() * 1e7)  # gra 1: 100 ns units
        word2 = (int(egress) << 3) | (1 << 1) | 1  # d, gra, o: the platform sub-header follows
        sub = struct.pack("!II", (3 << 26) | (port_index & 0x3FFF), (stamp >> 32) & 0xFFFFFFFF)
        return gre + struct.pack("!III", (2 << 28) | t | session_id, stamp & 0xFFFFFFFF, word2) + sub + inner
    if gre_type == GRE_VENDOR:
        return gre + VENDOR_HEADER + inner
    return gre + inner  # any other GRE type: the frame right after GRE, as 0x6558 carries it
