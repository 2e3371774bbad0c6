"""The baseline for bench/decode_rate.py: a straightforward per-packet struct parser.

It reads the pcap record by record and walks each frame's headers with struct, the way a
first implementation would; same encapsulations and flow key as the erspan library.
"""
from __future__ import annotations

import struct
from collections import defaultdict

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100, 0x9200)
IPV6_EXT = (0, 43, 44, 51, 60, 135, 139, 140)
U16, U32 = struct.Struct("!H"), struct.Struct("!I")


def ethernet(frame: bytes, off: int):
    if len(frame) < off + 14:
        return None
    et, off = U16.unpack_from(frame, off + 12)[0], off + 14
    vlan = None
    while et in VLAN_TPIDS and len(frame) >= off + 4:
        if vlan is None:
            vlan = U16.unpack_from(frame, off)[0] & 0x0FFF
        et, off = U16.unpack_from(frame, off + 2)[0], off + 4
    return et, off, vlan


def ip_header(frame: bytes, off: int, et: int):
    """(src, dst, proto, l4 offset, ip bytes, fragment offset, dscp) or None."""
    if et == 0x0800 and len(frame) >= off + 20 and frame[off] >> 4 == 4:
        ihl = (frame[off] & 15) * 4
        return (frame[off + 12:off + 16], frame[off + 16:off + 20], frame[off + 9], off + ihl,
                U16.unpack_from(frame, off + 2)[0], U16.unpack_from(frame, off + 6)[0] & 0x1FFF, frame[off + 1] >> 2)
    if et == 0x86DD and len(frame) >= off + 40 and frame[off] >> 4 == 6:
        nh, l4, frag = frame[off + 6], off + 40, 0
        while nh in IPV6_EXT and len(frame) >= l4 + 8:
            if nh == 44:
                frag = U16.unpack_from(frame, l4 + 2)[0] >> 3
            size = 8 if nh == 44 else (frame[l4 + 1] + 2) * 4 if nh == 51 else (frame[l4 + 1] + 1) * 8
            nh, l4 = frame[l4], l4 + size
        return (frame[off + 8:off + 24], frame[off + 24:off + 40], nh, l4,
                U16.unpack_from(frame, off + 4)[0] + 40, frag, (U16.unpack_from(frame, off)[0] >> 6) & 0x3F)
    return None


def decode_frame(frame: bytes, vendor_len: int = 22):
    """The flow key and IP bytes of one mirrored frame, or None."""
    l2 = ethernet(frame, 0)
    outer = l2 and ip_header(frame, l2[1], l2[0])
    if not outer or outer[2] != 47 or outer[5] or len(frame) < outer[3] + 4:
        return None
    off = outer[3]
    flags, proto = U16.unpack_from(frame, off)[0], U16.unpack_from(frame, off + 2)[0]
    if flags & 0x4007:
        return None
    s = flags & 0x1000
    off += 4 + 4 * (bool(flags & 0x8000) + bool(flags & 0x2000) + bool(s))
    etype, sid, direction, vlan, payload = None, None, None, None, "eth"
    if proto == 0x88BE:
        etype = 2 if s else 1
        if s:
            word = U32.unpack_from(frame, off)[0]
            sid, vlan, off = word & 0x3FF, (word >> 16) & 0xFFF, off + 8
    elif proto == 0x22EB:
        word, w2 = U32.unpack_from(frame, off)[0], U32.unpack_from(frame, off + 8)[0]
        etype, sid, vlan, direction = 3, word & 0x3FF, (word >> 16) & 0xFFF, "tx" if w2 & 8 else "rx"
        off += 12 + 8 * (w2 & 1)
        ft = (w2 >> 10) & 0x1F
        if ft not in (0, 2):
            return None
        payload = "eth" if ft == 0 else "ip"
    elif proto == 0x8949:
        off += vendor_len
    elif proto in (0x0800, 0x86DD):
        payload = "ip"
    elif proto != 0x6558:
        return None
    if payload == "eth":
        inner_l2 = ethernet(frame, off)
        if not inner_l2:
            return None
        et, off, tag = inner_l2
        vlan = tag if tag is not None else vlan
    else:
        et = 0x86DD if len(frame) > off and frame[off] >> 4 == 6 else 0x0800
    inner = ip_header(frame, off, et)
    if not inner:
        return None
    src, dst, p, l4, length, frag, _ = inner
    sport = dport = None
    if not frag and p in (6, 17, 132) and len(frame) >= l4 + 4:
        sport, dport = U16.unpack_from(frame, l4)[0], U16.unpack_from(frame, l4 + 2)[0]
    elif not frag and p in (1, 58) and len(frame) >= l4 + 2:
        sport, dport = frame[l4], frame[l4 + 1]
    return (etype, sid, direction, vlan or None, src, dst, p, sport, dport), length


def decode_file(path) -> dict:
    flows = defaultdict(lambda: [0, 0])
    with open(path, "rb") as fh:
        data = fh.read()
    off = 24
    while off + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, off + 8)[0]
        result = decode_frame(data[off + 16:off + 16 + caplen])
        if result:
            entry = flows[result[0]]
            entry[0] += 1
            entry[1] += result[1]
        off += 16 + caplen
    return flows
