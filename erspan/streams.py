"""A mirror stream's key: (outer src, outer dst, GRE protocol, session id) in five 64-bit words.

The session table is keyed by it, and every flow key starts with it (as in the kernel
decoder, bpf/erspan_decoder.h), so the flows of two switches that use one session id stay
apart. SPAN frames have no stream: every field of theirs is 0 (None when unpacked).
"""
from __future__ import annotations

import ipaddress
from typing import Iterable, Tuple

import numpy as np

from .decoder import Decoded

STREAM_WORDS = 5
Stream = Tuple[str, str, int]  # (outer src, outer dst, GRE protocol): every session id of it


def address(version: int, high: int, low: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(low))
    return str(ipaddress.IPv6Address((high << 64) | low))


def pack_streams(d: Decoded, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 5) uint64: outer src high/low, outer dst high/low, then version, GRE
    protocol and session id (plus one, so that 0 means 'does not apply')."""
    meta = (d.outer_version[rows] << 32) | ((d.gre_proto[rows] + 1) << 12) | (d.session_id[rows] + 1)
    return np.column_stack([d.outer_src[rows], d.outer_dst[rows], meta.astype(np.uint64)])


def unpack_stream(src_hi: int, src_lo: int, dst_hi: int, dst_lo: int, meta: int) -> dict:
    """The stream fields of a record (Flow, Session) from one packed key."""
    version, gre_proto, session_id = meta >> 32, (meta >> 12) & 0x1FFFF, meta & 0xFFF
    return dict(outer_src=address(version, src_hi, src_lo) if version else None,
                outer_dst=address(version, dst_hi, dst_lo) if version else None,
                gre_proto=gre_proto - 1 if gre_proto else None,
                session_id=session_id - 1 if session_id else None)


def stream_mask(keys: np.ndarray, streams: Iterable[Stream]) -> np.ndarray:
    """Which packed keys (rows of at least the 5 stream words) belong to one of `streams`,
    whatever their session id."""
    mask = np.zeros(len(keys), dtype=bool)
    for outer_src, outer_dst, gre_proto in streams:
        src, dst = int(ipaddress.ip_address(outer_src)), int(ipaddress.ip_address(outer_dst))
        mask |= ((keys[:, 0] == src >> 64) & (keys[:, 1] == src & (1 << 64) - 1) & (keys[:, 2] == dst >> 64)
                 & (keys[:, 3] == dst & (1 << 64) - 1) & (((keys[:, 4] >> 12) & 0x1FFFF) == gre_proto + 1))
    return mask
