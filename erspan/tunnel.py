"""GRE (every optional field) and the ERSPAN I/II/III, 0x8949, TEB and GRE-IP headers after it.

Layouts follow ../shared/notes/erspan.md: GRE C/K/S fields in that order, R=1 or a version
other than 0 rejected; 0x88BE is Type I without the S bit and Type II with it; 0x22EB is
Type III, with the 8-byte platform sub-header when o=1; 0x8949 carries a vendor header of
configurable length before the mirrored frame.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .frames import Frames
from .layers import ETH_IPV4, ETH_IPV6
from .reasons import CODE

GRE_ERSPAN, GRE_ERSPAN3, GRE_VENDOR, GRE_BRIDGED = 0x88BE, 0x22EB, 0x8949, 0x6558
MIRROR_PROTOS = np.array([GRE_ERSPAN, GRE_ERSPAN3, GRE_VENDOR, GRE_BRIDGED, ETH_IPV4, ETH_IPV6])
GRE_C, GRE_R, GRE_K, GRE_S, GRE_VERSION = 0x8000, 0x4000, 0x2000, 0x1000, 0x0007
ERSPAN3_FT_ETHERNET, ERSPAN3_FT_IP = 0, 2
PAYLOAD_ETHERNET = GRE_BRIDGED  # payload_type: an ethertype naming what follows the headers
DEFAULT_VENDOR_HEADER_LEN = 22


@dataclass
class Tunnel:
    """Rows aligned with the idx given to `parse_tunnel`; -1 where a field does not apply."""

    reason: np.ndarray
    session: np.ndarray  # bool: a mirror stream we recognise (counted per session)
    gre_proto: np.ndarray
    sequence: np.ndarray
    erspan_type: np.ndarray
    session_id: np.ndarray
    erspan_vlan: np.ndarray
    direction: np.ndarray  # ERSPAN III d bit: 0 ingress, 1 egress
    truncated: np.ndarray  # bool: the ERSPAN T bit
    port_index: np.ndarray  # Type II index; Type III platform sub-header's port/source index
    payload: np.ndarray  # offset of the mirrored frame or packet
    payload_type: np.ndarray  # PAYLOAD_ETHERNET, ETH_IPV4, ETH_IPV6, or 0 (nothing to decode)


def parse_tunnel(fr: Frames, idx: np.ndarray, off: np.ndarray,
                 vendor_header_len: int = DEFAULT_VENDOR_HEADER_LEN) -> Tunnel:
    """The GRE header at `off` and the mirror header after it."""
    flags, proto = fr.u16(idx, off), fr.u16(idx, off + 2)
    has_gre = fr.has(idx, off, 4)
    session = has_gre & np.isin(proto, MIRROR_PROTOS)
    c, k, s = ((flags & bit) != 0 for bit in (GRE_C, GRE_K, GRE_S))
    gre_len = 4 + 4 * (c.astype(np.int64) + k + s)
    head = fr.clamp(idx, off + gre_len)
    w0, w2 = fr.u32(idx, head), fr.u32(idx, head + 8)
    is_i = (proto == GRE_ERSPAN) & ~s
    is_ii = (proto == GRE_ERSPAN) & s
    is_iii = proto == GRE_ERSPAN3
    has_iii_sub = is_iii & ((w2 & 1) != 0)
    mirror_len = np.select([is_ii, is_iii, proto == GRE_VENDOR],
                           [8, 12 + 8 * has_iii_sub, vendor_header_len], 0)
    version = w0 >> 28
    frame_type = (w2 >> 10) & 0x1F
    mirror_cut = np.where(proto == GRE_VENDOR, CODE["vendor_header_truncated"], CODE["erspan_truncated"])
    reason = np.select(
        [~has_gre, ~session, (flags & GRE_R) != 0, (flags & GRE_VERSION) != 0,
         ~fr.has(idx, off, gre_len), ~fr.has(idx, head, mirror_len),
         is_ii & (version != 1), is_iii & (version != 2),
         is_iii & (frame_type != ERSPAN3_FT_ETHERNET) & (frame_type != ERSPAN3_FT_IP)],
        [CODE["gre_truncated"], CODE["gre_not_mirror"], CODE["gre_routing"], CODE["gre_version"],
         CODE["gre_truncated"], mirror_cut, CODE["erspan_version"], CODE["erspan_version"],
         CODE["erspan_frame_type"]], 0)
    payload = fr.clamp(idx, head + mirror_len)
    ip_version = fr.u8(idx, payload) >> 4
    payload_type = np.select(
        [(proto == ETH_IPV4) | (proto == ETH_IPV6),
         is_iii & (frame_type == ERSPAN3_FT_IP)],
        [proto, np.where(ip_version == 6, ETH_IPV6, ETH_IPV4)], PAYLOAD_ETHERNET)
    has_header = (is_ii | is_iii) & fr.has(idx, off, gre_len) & fr.has(idx, head, 4)
    none = np.full(len(idx), -1, dtype=np.int64)
    complete = has_header & fr.has(idx, head, mirror_len)
    return Tunnel(
        reason=reason, session=session, gre_proto=np.where(has_gre, proto, -1),
        sequence=np.where(s & fr.has(idx, off, gre_len), fr.u32(idx, off + gre_len - 4), -1),
        erspan_type=np.select([is_i, is_ii, is_iii], [1, 2, 3], -1),
        session_id=np.where(has_header, w0 & 0x3FF, -1),
        erspan_vlan=np.where(has_header, (w0 >> 16) & 0x0FFF, -1),
        direction=np.where(is_iii & fr.has(idx, head, 12), (w2 >> 3) & 1, none),
        truncated=has_header & ((w0 & 0x400) != 0),
        port_index=np.where(complete, port_index(fr, idx, head, is_ii, has_iii_sub), none),
        payload=payload, payload_type=np.where(reason == 0, payload_type, 0))


def port_index(fr: Frames, idx: np.ndarray, head: np.ndarray, is_ii: np.ndarray,
               has_iii_sub: np.ndarray) -> np.ndarray:
    """Where the mirrored frame entered or left the source switch, as the header carries it.

    Type II: the 20-bit index. Type III platform sub-header, by platform id (its top 6 bits):
    3 -> port in bits 13:0; 1 -> the second word; 5 and 6 -> port in bits 15:0; 0 and 7 ->
    source index in bits 19:0. -1 otherwise.
    """
    w1, sub, sub2 = fr.u32(idx, head + 4), fr.u32(idx, head + 12), fr.u32(idx, head + 16)
    platform = sub >> 26
    from_sub = np.select([platform == 3, platform == 1, (platform == 5) | (platform == 6),
                          (platform == 0) | (platform == 7)],
                         [sub & 0x3FFF, sub2, sub & 0xFFFF, sub & 0xFFFFF], -1)
    return np.select([is_ii, has_iii_sub], [w1 & 0xFFFFF, from_sub], -1)
