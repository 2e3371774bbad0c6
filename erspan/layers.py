"""Ethernet/VLAN, IPv4/IPv6 and TCP/UDP/SCTP/ICMP headers, vectorised over a batch.

Each parser takes `idx` (the frames in play) and per-row offsets into those frames, and
returns arrays aligned with `idx`. A `reason` array (0 where fine) says why a row failed;
`layer` ("outer" or "inner") picks the reason names. The same parsers read the outer headers
of a mirror stream and the headers of the mirrored packet inside it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import Frames
from .reasons import CODE

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TPIDS = np.array([0x8100, 0x88A8, 0x9100, 0x9200])  # as bpf/parse.h vlan_tpid
ISL_PREFIXES = np.array([0x01000C00, 0x03000C00])  # first 4 of the 5 ISL destination bytes
ISL_HEADER = 26
CISCO_TTAG = 0x8988  # ACI fabric PTP timestamp tag left in mirrored frames (Zeek issue 1928)
MAX_VLAN_TAGS = 4
IPV6_EXT = np.array([0, 43, 44, 51, 60, 135, 139, 140])  # headers before the payload (bpf/parse.h ipv6_ext)
IPV6_FRAGMENT, IPV6_AH = 44, 51
MAX_IPV6_EXT = 8
TCP, UDP, SCTP, UDPLITE, ICMP, ICMPV6 = 6, 17, 132, 136, 1, 58
PORT_PROTOS = np.array([TCP, UDP, SCTP, UDPLITE])


def walk_vlan_tags(fr: Frames, idx: np.ndarray, et_off: np.ndarray, layer: str):
    """Skip 802.1Q/QinQ tags (and Cisco's 8-byte PTP TTag) from the ethertype at `et_off`.

    Returns (reason, ethertype, l3 offset, vlan id of the outermost VLAN tag or -1).
    """
    et_off = et_off.copy()
    reason = np.where(fr.has(idx, et_off, 2), 0, CODE[f"{layer}_l2_truncated"])
    ethertype = fr.u16(idx, et_off)
    vlan = np.full(len(idx), -1, dtype=np.int64)
    for _ in range(MAX_VLAN_TAGS):
        is_vlan = np.isin(ethertype, VLAN_TPIDS)
        rows = np.flatnonzero((is_vlan | (ethertype == CISCO_TTAG)) & (reason == 0))
        if not len(rows):
            break
        f, o, tag_vlan = idx[rows], et_off[rows], is_vlan[rows]
        size = np.where(tag_vlan, 4, 8)  # TTag: 6-byte timestamp, then the next ethertype
        reason[rows[~fr.has(f, o, size + 2)]] = CODE[f"{layer}_l2_truncated"]
        vlan[rows] = np.where((vlan[rows] < 0) & tag_vlan, fr.u16(f, o + 2) & 0x0FFF, vlan[rows])
        ethertype[rows] = fr.u16(f, o + size)
        et_off[rows] = fr.clamp(f, o + size)
    return reason, ethertype, fr.clamp(idx, et_off + 2), vlan


def walk_ethernet(fr: Frames, idx: np.ndarray, off: np.ndarray, layer: str):
    """An Ethernet header at `off`, with its tags: as `walk_vlan_tags`.

    A Cisco ISL header (26 bytes to 01:00:0c:00:00 or 03:00:0c:00:00, VLAN in bits 15:1 of
    its bytes 20-21) in front of the frame is skipped; its VLAN counts when no tag follows.
    """
    maybe = np.flatnonzero(fr.u8(idx, off) & 0xFD == 0x01)  # 01 or 03: the rest only for these
    f, o = idx[maybe], off[maybe]
    rows = maybe[np.isin(fr.u32(f, o), ISL_PREFIXES) & (fr.u8(f, o + 4) == 0) & fr.has(f, o, ISL_HEADER + 14)]
    isl_vlan = np.full(len(idx), -1, dtype=np.int64)
    isl_vlan[rows] = (fr.u16(idx[rows], off[rows] + 20) >> 1) & 0x0FFF
    off = off.copy()
    off[rows] += ISL_HEADER
    reason, ethertype, l3, vlan = walk_vlan_tags(fr, idx, off + 12, layer)
    reason[~fr.has(idx, off, 14)] = CODE[f"{layer}_l2_truncated"]
    return reason, ethertype, l3, np.where(vlan >= 0, vlan, isl_vlan)


@dataclass
class IpFields:
    """Rows aligned with the idx given to `parse_ip`."""

    reason: np.ndarray
    version: np.ndarray  # 4 or 6
    src: np.ndarray  # (n, 2) uint64: IPv6 high, low words; IPv4 as (0, address)
    dst: np.ndarray
    proto: np.ndarray  # payload protocol after any IPv6 extension headers
    l4: np.ndarray  # offset of the payload
    length: np.ndarray  # IP-layer bytes: IPv4 total length, IPv6 payload length + 40
    dscp: np.ndarray
    fragment_offset: np.ndarray  # bytes; non-zero on every fragment but the first
    more_fragments: np.ndarray  # bool


def parse_ip(fr: Frames, idx: np.ndarray, off: np.ndarray, ethertype: np.ndarray,
             layer: str) -> IpFields:
    """IPv4 rows where ethertype is 0x0800, IPv6 where 0x86DD (other rows are not touched)."""
    n = len(idx)
    ip = IpFields(np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros((n, 2), np.uint64),
                  np.zeros((n, 2), np.uint64), np.zeros(n, np.int64), off.copy(),
                  np.zeros(n, np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64),
                  np.zeros(n, bool))
    rows4 = np.flatnonzero(ethertype == ETH_IPV4)
    if len(rows4):
        _ipv4(fr, idx[rows4], off[rows4], ip, rows4, layer)
    rows6 = np.flatnonzero(ethertype == ETH_IPV6)
    if len(rows6):
        _ipv6(fr, idx[rows6], off[rows6], ip, rows6, layer)
    return ip


def _ipv4(fr: Frames, f: np.ndarray, o: np.ndarray, ip: IpFields, rows: np.ndarray, layer: str):
    first = fr.u8(f, o)
    ihl = (first & 0x0F) * 4
    total = fr.u16(f, o + 2)
    frag = fr.u16(f, o + 6)
    ip.reason[rows] = np.select(
        [~fr.has(f, o, 20), first >> 4 != 4, ihl < 20, ~fr.has(f, o, ihl), total < ihl],
        [CODE[f"{layer}_ip_truncated"], CODE[f"{layer}_ip_version"],
         CODE[f"{layer}_ipv4_header_length"], CODE[f"{layer}_ip_truncated"],
         CODE[f"{layer}_ipv4_total_length"]], 0)
    ip.version[rows] = 4
    ip.src[rows, 1] = fr.u32(f, o + 12).astype(np.uint64)
    ip.dst[rows, 1] = fr.u32(f, o + 16).astype(np.uint64)
    ip.proto[rows] = fr.u8(f, o + 9)
    ip.l4[rows] = fr.clamp(f, o + ihl)
    ip.length[rows] = total
    ip.dscp[rows] = fr.u8(f, o + 1) >> 2
    ip.fragment_offset[rows] = (frag & 0x1FFF) * 8
    ip.more_fragments[rows] = (frag & 0x2000) != 0


def _ipv6(fr: Frames, f: np.ndarray, o: np.ndarray, ip: IpFields, rows: np.ndarray, layer: str):
    reason = np.select([~fr.has(f, o, 40), fr.u8(f, o) >> 4 != 6],
                       [CODE[f"{layer}_ip_truncated"], CODE[f"{layer}_ip_version"]], 0)
    ip.version[rows] = 6
    ip.src[rows, 0], ip.src[rows, 1] = fr.u64(f, o + 8), fr.u64(f, o + 16)
    ip.dst[rows, 0], ip.dst[rows, 1] = fr.u64(f, o + 24), fr.u64(f, o + 32)
    ip.length[rows] = fr.u16(f, o + 4) + 40
    ip.dscp[rows] = (fr.u16(f, o) >> 6) & 0x3F
    nh, l4 = fr.u8(f, o + 6), fr.clamp(f, o + 40)
    frag_off, more = np.zeros(len(f), np.int64), np.zeros(len(f), bool)
    for _ in range(MAX_IPV6_EXT):  # a later fragment's Fragment header ends the walk: no header follows
        ext = np.flatnonzero(np.isin(nh, IPV6_EXT) & (reason == 0) & (frag_off == 0))
        if not len(ext):
            break
        ef, eo, enh = f[ext], l4[ext], nh[ext]
        hdr_len = np.select([enh == IPV6_FRAGMENT, enh == IPV6_AH],
                            [8, (fr.u8(ef, eo + 1) + 2) * 4], (fr.u8(ef, eo + 1) + 1) * 8)
        reason[ext[~fr.has(ef, eo, hdr_len)]] = CODE[f"{layer}_ipv6_ext_truncated"]
        is_frag = enh == IPV6_FRAGMENT
        frag_word = fr.u16(ef, eo + 2)
        frag_off[ext] = np.where(is_frag, frag_word & 0xFFF8, frag_off[ext])
        more[ext] |= is_frag & ((frag_word & 1) != 0)
        nh[ext] = fr.u8(ef, eo)
        l4[ext] = fr.clamp(ef, eo + hdr_len)
    reason[(reason == 0) & np.isin(nh, IPV6_EXT) & (frag_off == 0)] = CODE[f"{layer}_ipv6_ext_chain"]
    ip.reason[rows] = reason
    ip.proto[rows] = nh
    ip.l4[rows] = l4
    ip.fragment_offset[rows] = frag_off
    ip.more_fragments[rows] = more


def parse_ports(fr: Frames, idx: np.ndarray, ip: IpFields):
    """(sport, dport, tcp_flags, cut) aligned with idx; -1 where a field does not apply.

    ICMP and ICMPv6 give type as sport and code as dport. Non-first fragments have no
    transport header. `cut` marks rows whose transport header was not captured.
    """
    n = len(idx)
    sport, dport, flags = (np.full(n, -1, np.int64) for _ in range(3))
    whole = ip.fragment_offset == 0
    ported = whole & np.isin(ip.proto, PORT_PROTOS)
    icmp = whole & ((ip.proto == ICMP) | (ip.proto == ICMPV6))
    need = np.where(ported, 4, np.where(icmp, 2, 0))
    got = fr.has(idx, ip.l4, need)
    rows = np.flatnonzero(ported & got)
    sport[rows] = fr.u16(idx[rows], ip.l4[rows])
    dport[rows] = fr.u16(idx[rows], ip.l4[rows] + 2)
    rows = np.flatnonzero(icmp & got)
    sport[rows] = fr.u8(idx[rows], ip.l4[rows])
    dport[rows] = fr.u8(idx[rows], ip.l4[rows] + 1)
    tcp = np.flatnonzero(whole & (ip.proto == TCP))
    flags[tcp] = np.where(fr.has(idx[tcp], ip.l4[tcp], 14), fr.u8(idx[tcp], ip.l4[tcp] + 13), 0)
    return sport, dport, flags, (need > 0) & ~got
