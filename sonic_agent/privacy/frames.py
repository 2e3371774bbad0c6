"""A captured frame under a privacy policy: its addresses anonymised in place, checksums kept valid.

`redact_frame(data, address, excluded)` walks Ethernet, up to two VLAN tags (0x8100, 0x88a8,
0x9100), then ARP (sender and target protocol addresses), IPv4 or IPv6 (IPv6's hop-by-hop,
routing, fragment and destination-options headers skipped), IP-in-IP (4, 41) to a depth of
three, and in ICMP errors the quoted IP header (ICMP 3/4/5/11/12, ICMPv6 1-4) and the NDP
target of ICMPv6 135/136. Each address found is replaced by `address(packed)`; the IPv4
header checksum and the TCP, UDP and ICMPv6 checksums (pseudo-header) and the ICMP checksum
(quoted header) are fixed incrementally (RFC 1624: the payload need not be captured); a UDP
checksum of 0 (none, IPv4) stays 0. What cannot be anonymised is cut away, never passed on:
a frame of another protocol (LLDP, MPLS, ...) keeps only its Ethernet header(s), and a frame
cut (by the snap length) inside an address keeps only what precedes that header. A frame
whose outermost source or destination `excluded` names is None (not kept).
"""
from __future__ import annotations

import struct
from typing import Callable, Optional

Address = Callable[[bytes], bytes]  # packed address in, anonymised packed address out
VLAN_TAGS = (0x8100, 0x88A8, 0x9100)
IPV4, IPV6, ARP = 0x0800, 0x86DD, 0x0806
IPV6_EXTENSIONS = (0, 43, 44, 60)  # hop-by-hop, routing, fragment, destination options
CHECKSUM_AT = {6: 16, 17: 6}  # TCP, UDP: where the checksum is in the transport header
ICMP4_ERRORS = (3, 4, 5, 11, 12)
ICMP6_ERRORS = (1, 2, 3, 4)
NDP_TARGET = (135, 136)  # neighbor solicitation, advertisement: a target address at offset 8
MAX_DEPTH = 3


class _Frame:
    def __init__(self, data: bytes, address: Address):
        self.buf = bytearray(data)
        self.address = address
        self.cut: Optional[int] = None  # where the frame is to end: what follows could not be anonymised

    def word(self, at: int) -> int:
        return struct.unpack_from("!H", self.buf, at)[0]

    def replace(self, at: int, size: int) -> int:
        """The address at `at` anonymised; the one's-complement sum of the change (~old + new)."""
        old = bytes(self.buf[at:at + size])
        new = self.address(old)
        self.buf[at:at + size] = new
        return _change(old, new)

    def adjust(self, at: int, change: int, udp: bool = False) -> None:
        """Fix the checksum at `at` for a summed change (RFC 1624 eqn. 3), if it was captured."""
        if at + 2 > len(self.buf):
            return
        old = self.word(at)
        if udp and old == 0:
            return  # no checksum
        new = ~_fold((~old & 0xFFFF) + change) & 0xFFFF
        struct.pack_into("!H", self.buf, at, 0xFFFF if udp and new == 0 else new)

    def stop(self, at: int) -> None:
        self.cut = at if self.cut is None else min(self.cut, at)


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _change(old: bytes, new: bytes) -> int:
    total = 0
    for i in range(0, len(old), 2):
        total += (~((old[i] << 8) | old[i + 1]) & 0xFFFF) + ((new[i] << 8) | new[i + 1])
    return _fold(total)


def redact_frame(data: bytes, address: Optional[Address], excluded: Callable[[bytes], bool]) -> Optional[bytes]:
    """The frame as the policy may keep it, or None when its addresses are excluded."""
    at, ethertype = 12, None
    for _ in range(3):
        if at + 2 > len(data):
            return data[:at] if address is not None else data
        ethertype = struct.unpack_from("!H", data, at)[0]
        if ethertype not in VLAN_TAGS:
            break
        at += 4
    at += 2
    outer = _outer_addresses(data, at, ethertype)
    if outer is not None and any(excluded(a) for a in outer):
        return None
    if address is None:
        return data
    frame = _Frame(data, address)
    if ethertype == ARP:
        _arp(frame, at)
    elif ethertype in (IPV4, IPV6):
        _ip(frame, at, ethertype == IPV6, 0)
    else:
        frame.stop(at)
    out = bytes(frame.buf)
    return out if frame.cut is None else out[:frame.cut]


def _outer_addresses(data: bytes, at: int, ethertype: Optional[int]):
    if ethertype == IPV4 and len(data) >= at + 20:
        return data[at + 12:at + 16], data[at + 16:at + 20]
    if ethertype == IPV6 and len(data) >= at + 40:
        return data[at + 8:at + 24], data[at + 24:at + 40]
    if ethertype == ARP and len(data) >= at + 28 and data[at + 4:at + 6] == b"\x06\x04":
        return data[at + 14:at + 18], data[at + 24:at + 28]
    return None


def _arp(frame: _Frame, at: int) -> None:
    buf = frame.buf
    if len(buf) < at + 8:
        frame.stop(at)
        return
    hlen, plen = buf[at + 4], buf[at + 5]
    if plen not in (4, 16) or len(buf) < at + 8 + 2 * (hlen + plen):
        frame.stop(at)
        return
    frame.replace(at + 8 + hlen, plen)
    frame.replace(at + 8 + 2 * hlen + plen, plen)


def _ip(frame: _Frame, at: int, v6: bool, depth: int) -> int:
    """Anonymise the IP packet at `at`; the summed change of its addresses (the pseudo-header's)."""
    buf = frame.buf
    if v6:
        if len(buf) < at + 40:
            frame.stop(at)
            return 0
        change = _fold(frame.replace(at + 8, 16) + frame.replace(at + 24, 16))
        proto, end, first = buf[at + 6], at + 40, True
        for _ in range(8):
            if proto not in IPV6_EXTENSIONS or len(buf) < end + 8:
                break
            if proto == 44:
                first = first and (frame.word(end + 2) >> 3) == 0
                proto, end = buf[end], end + 8
            else:
                proto, end = buf[end], end + 8 + 8 * buf[end + 1]
    else:
        if len(buf) < at + 20:
            frame.stop(at)
            return 0
        change = _fold(frame.replace(at + 12, 4) + frame.replace(at + 16, 4))
        frame.adjust(at + 10, change)
        proto, end = buf[at + 9], at + 4 * (buf[at] & 0x0F)
        first = (frame.word(at + 6) & 0x1FFF) == 0 and end >= at + 20  # an IHL under 5: no header to trust
    if not first:
        return change  # a later fragment: no transport header
    if proto in CHECKSUM_AT:
        frame.adjust(end + CHECKSUM_AT[proto], change, udp=proto == 17)
    elif proto in (4, 41) and depth < MAX_DEPTH:
        _ip(frame, end, proto == 41, depth + 1)
    elif proto == 1 and not v6 and len(buf) >= end + 1 and buf[end] in ICMP4_ERRORS:
        frame.adjust(end + 2, _quoted(frame, end + 8, False, depth))
    elif proto == 58 and v6:
        if len(buf) >= end + 1 and buf[end] in ICMP6_ERRORS:
            change = _fold(change + _quoted(frame, end + 8, True, depth))
        elif len(buf) >= end + 1 and buf[end] in NDP_TARGET:
            if len(buf) < end + 24:
                frame.stop(end)
            else:
                change = _fold(change + frame.replace(end + 8, 16))
        frame.adjust(end + 2, change)
    return change


def _quoted(frame: _Frame, at: int, v6: bool, depth: int) -> int:
    """The packet an ICMP error quotes, anonymised like any (its checksums fixed); the summed
    change of its bytes, for the ICMP checksum."""
    buf = frame.buf
    if len(buf) <= at or depth >= MAX_DEPTH:
        return 0
    if len(buf) < at + (40 if v6 else 20):
        frame.stop(at)
        return 0
    before = bytes(buf[at:])
    _ip(frame, at, v6, depth + 1)
    pad = b"\0" * (len(before) % 2)  # the quoted packet starts on an even offset of the ICMP message
    return _change(before + pad, bytes(buf[at:]) + pad)
