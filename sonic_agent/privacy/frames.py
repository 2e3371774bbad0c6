"""A captured frame under a privacy policy: the addresses in its headers anonymised, checksums kept valid.

`redact_frame(data, address, excluded)` walks what the flow decoder walks in front of a packet
(an ISL header, up to four VLAN tags or Cisco TTags: erspan.layers), then:
- ARP: the sender and target protocol addresses;
- IPv4 and IPv6 (hop-by-hop, fragment and AH headers skipped): source and destination; the
  packet an IP-in-IP (4, 41) header carries, to a depth of three;
- ICMP: the packet an error quotes (3, 4, 11, 12) and a redirect's gateway and quote (5);
  ICMPv6: an error's quote (1-4), the NDP target (135, 136), a redirect's target and
  destination (137), MLD's multicast address (130-132).
Each address is replaced by `address(packed)`. The IPv4 header checksum, the TCP, UDP,
UDP-Lite and DCCP checksums (their pseudo-header) and the ICMP and ICMPv6 checksums (what
changed inside them) are fixed incrementally (RFC 1624: the payload need not be captured); a
UDP checksum of 0 (none, IPv4) stays 0. What the walk cannot vouch for is cut away, never
passed on: a frame of another protocol (LLDP, MPLS, ...) keeps only its link headers; the rest
of a packet from a header that carries addresses the walk does not rewrite (an IPv6 routing,
destination-options, mobility, HIP or shim6 header; router advertisement, MLDv2 and redirect
options; other ICMP types' bodies) or from where nesting passes the depth; a frame cut inside
a header or a checksum keeps what precedes it. A frame any of whose addresses `excluded`
names (None: no exclusions) is None (not kept), with or without anonymisation.
"""
from __future__ import annotations

import struct
from typing import Callable, List, Optional

from erspan.layers import CISCO_TTAG, ISL_HEADER, ISL_PREFIXES, MAX_IPV6_EXT, MAX_VLAN_TAGS, VLAN_TPIDS

Address = Callable[[bytes], bytes]  # packed address in, anonymised packed address out
VLAN_TAGS = frozenset(int(t) for t in VLAN_TPIDS)
ISL = frozenset(int(p) for p in ISL_PREFIXES)
IPV4, IPV6, ARP = 0x0800, 0x86DD, 0x0806
IPV6_SKIPPED = (0, 44, 51)  # hop-by-hop, fragment, AH: nothing in them to rewrite
ADDRESS_HEADERS = (43, 60, 135, 139, 140)  # routing, destination options, mobility, HIP, shim6
AH = 51
CHECKSUM_AT = {6: 16, 17: 6, 136: 6, 33: 6}  # TCP, UDP, UDP-Lite, DCCP: the pseudo-header's checksums
ICMP_QUOTES = (3, 4, 11, 12)
ICMP_REDIRECT = 5
ICMP_KEPT = (0, 8, 13, 14)  # echo, timestamp: no address in the body
ICMP6_QUOTES = (1, 2, 3, 4)
ICMP6_KEPT = (128, 129, 133)  # echo, router solicitation (options: a link-layer address)
ICMP6_TARGETS = {135: (8,), 136: (8,), 137: (8, 24), 130: (8,), 131: (8,), 132: (8,)}  # address offsets
ICMP6_CUT = {135: None, 136: None, 137: 40, 130: 24, 131: 24, 132: 24, 134: 16}  # where the body is cut
MAX_DEPTH = 3
UNBOUNDED = 1 << 32  # a packet's end when only its own length fields bound it


class _Frame:
    def __init__(self, data: bytes, address: Address):
        self.buf = bytearray(data)
        self.map = address
        self.seen: List[bytes] = []  # every original address found
        self.cut: Optional[int] = None  # where the frame is to end: what follows could not be vouched for

    def word(self, at: int) -> int:
        return struct.unpack_from("!H", self.buf, at)[0]

    def has(self, at: int, size: int) -> bool:
        """`size` bytes captured at `at`; if not, the frame is cut there."""
        if at + size <= len(self.buf):
            return True
        self.stop(at)
        return False

    def address(self, at: int, size: int) -> None:
        if self.has(at, size):
            old = bytes(self.buf[at:at + size])
            self.seen.append(old)
            self.buf[at:at + size] = self.map(old)

    def adjust(self, at: int, change: int, end: int, udp: bool = False) -> None:
        """Fix the checksum at `at` for a summed change (RFC 1624 eqn. 3): if it lies inside the
        packet (`end`) and was captured; one byte of it captured cuts the frame there."""
        if change in (0, 0xFFFF) or at + 2 > end or not self.has(at, 2):
            return  # nothing to fix (0xFFFF is one's-complement zero too): left as the sender wrote it
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
    """The one's-complement sum of ~old + new over 16-bit words (an odd length padded with 0)."""
    if len(old) % 2:
        old, new = old + b"\0", new + b"\0"
    total = 0
    for (a,), (b,) in zip(struct.iter_unpack("!H", old), struct.iter_unpack("!H", new)):
        total += (~a & 0xFFFF) + b
    return _fold(total)


def redact_frame(data: bytes, address: Optional[Address],
                 excluded: Optional[Callable[[bytes], bool]]) -> Optional[bytes]:
    """The frame as the policy may keep it, or None when one of its addresses is excluded."""
    if excluded is not None:  # the original addresses first: no AES is spent on a frame not kept
        if any(excluded(a) for a in _walk(data, lambda raw: raw).seen):
            return None
    if address is None:
        return data
    frame = _walk(data, address)
    out = bytes(frame.buf)
    return out if frame.cut is None else out[:frame.cut]


def _walk(data: bytes, address: Address) -> _Frame:
    frame = _Frame(data, address)
    at = ISL_HEADER if len(data) >= ISL_HEADER and struct.unpack_from("!I", data)[0] in ISL else 0
    at += 12
    for _ in range(MAX_VLAN_TAGS + 1):
        if not frame.has(at, 2):
            return frame
        ethertype = frame.word(at)
        if ethertype in VLAN_TAGS:
            at += 4
        elif ethertype == CISCO_TTAG:
            at += 8
        else:
            break
    else:
        frame.stop(at)
        return frame
    at += 2
    if ethertype == ARP:
        _arp(frame, at)
    elif ethertype in (IPV4, IPV6):
        _ip(frame, at, ethertype == IPV6, 0, UNBOUNDED)
    else:
        frame.stop(at)
    return frame


def _arp(frame: _Frame, at: int) -> None:
    if not frame.has(at, 6):
        return
    hlen, plen = frame.buf[at + 4], frame.buf[at + 5]
    if plen not in (4, 16):
        frame.stop(at)
        return
    frame.address(at + 8 + hlen, plen)
    frame.address(at + 8 + 2 * hlen + plen, plen)


def _ip(frame: _Frame, at: int, v6: bool, depth: int, limit: int) -> int:
    """Anonymise the IP packet at `at` (its bytes end by `limit`, as lengths say: what was
    captured may end sooner); the summed change of its addresses (what a pseudo-header sees)."""
    buf = frame.buf
    header = 40 if v6 else 20
    if not frame.has(at, header) or buf[at] >> 4 != (6 if v6 else 4):
        frame.stop(at)
        return 0
    before = bytes(buf[at:at + header])
    if v6:
        frame.address(at + 8, 16)
        frame.address(at + 24, 16)
        payload = frame.word(at + 4)
        end = min(limit, at + 40 + payload) if payload else limit  # 0: a jumbogram
        proto, head, first = buf[at + 6], at + 40, True
        for _ in range(MAX_IPV6_EXT):
            if proto not in IPV6_SKIPPED or not frame.has(head, 8):
                break
            if proto == 44:
                first, size = first and (frame.word(head + 2) >> 3) == 0, 8
            else:
                size = 4 * (buf[head + 1] + 2) if proto == AH else 8 * (buf[head + 1] + 1)
            proto, head = buf[head], head + size
        change = _change(before[8:40], bytes(buf[at + 8:at + 40]))
    else:
        frame.address(at + 12, 4)
        frame.address(at + 16, 4)
        change = _change(before[12:20], bytes(buf[at + 12:at + 20]))
        frame.adjust(at + 10, change, limit)
        total, head = frame.word(at + 2), at + 4 * (buf[at] & 0x0F)
        end = min(limit, at + total) if total >= 20 else limit
        first = (frame.word(at + 6) & 0x1FFF) == 0 and head >= at + 20  # an IHL under 5: no header to trust
        proto = buf[at + 9]
        if proto == AH and first and frame.has(head, 2):
            proto, head = buf[head], head + 4 * (buf[head + 1] + 2)
    if not first:
        return change  # a later fragment: payload only
    if proto in IPV6_SKIPPED or (v6 and proto in ADDRESS_HEADERS):
        frame.stop(head)  # more headers than the walk takes, or one that carries addresses
    elif proto in CHECKSUM_AT:
        frame.adjust(head + CHECKSUM_AT[proto], change, end, udp=proto == 17 and not v6)
    elif proto in (4, 41):
        if depth + 1 >= MAX_DEPTH:
            frame.stop(head)
        else:
            _ip(frame, head, proto == 41, depth + 1, end)
    elif proto == 1 and not v6:
        _icmp(frame, head, end, depth, False, 0)
    elif proto == 58 and v6:
        _icmp(frame, head, end, depth, True, change)
    return change


def _icmp(frame: _Frame, at: int, end: int, depth: int, v6: bool, pseudo: int) -> None:
    """An ICMP or ICMPv6 message ending by `end`: its addresses and quoted packet anonymised,
    its checksum fixed for what changed inside it and in the pseudo-header (ICMPv6: `pseudo`)."""
    buf = frame.buf
    if not frame.has(at, 4):
        return
    kind, span = buf[at], min(end, len(buf))
    before = bytes(buf[at:span])
    if v6:
        quotes, targets, size = kind in ICMP6_QUOTES, ICMP6_TARGETS.get(kind, ()), 16
        cut = ICMP6_CUT.get(kind, None if quotes or kind in ICMP6_KEPT else 8)
        length_at = 4 if kind in (1, 3) else None  # RFC 4884: the quote's length, in 64-bit words
    else:
        quotes, targets, size = kind in ICMP_QUOTES or kind == ICMP_REDIRECT, (4,) if kind == ICMP_REDIRECT else (), 4
        cut = None if quotes or kind in ICMP_KEPT else 8
        length_at = 5 if kind in (3, 11, 12) else None  # in 32-bit words
    for offset in targets:
        frame.address(at + offset, size)
    if quotes:
        length = buf[at + length_at] if length_at is not None and len(buf) > at + length_at else 0
        quote_end = min(end, at + 8 + length * (8 if v6 else 4)) if length else end
        if length and quote_end < end:
            frame.stop(quote_end)  # RFC 4884 extension objects (RFC 5837: interface addresses)
        if depth + 1 >= MAX_DEPTH:
            frame.stop(at + 8)
        elif len(buf) > at + 8:
            _ip(frame, at + 8, v6, depth + 1, quote_end)
    if cut is not None:
        frame.stop(at + cut)
    frame.adjust(at + 2, _fold(pseudo + _change(before, bytes(buf[at:span]))), end)
