"""Decode a batch of frames: link layer, outer IP, GRE/ERSPAN, then the mirrored packet.

All stages are numpy over the frames still in play; no Python loop runs per packet. The
result is one row per frame (`Decoded`): why it failed, if it did; its mirror stream
(outer addresses, GRE protocol, ERSPAN session id, sequence); and the mirrored packet's
flow fields. In `span` mode every frame is itself the mirrored packet (a local SPAN port).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .frames import (LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL,
                     LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW, Frames)
from .layers import ETH_IPV4, ETH_IPV6, parse_ip, parse_ports, walk_ethernet, walk_vlan_tags
from .reasons import CODE
from .tunnel import DEFAULT_VENDOR_HEADER_LEN, PAYLOAD_ETHERNET, parse_tunnel

GRE = 47
IP_LINK_HEADER = {LINKTYPE_RAW: 0, LINKTYPE_IPV4: 0, LINKTYPE_IPV6: 0, LINKTYPE_NULL: 4,
                  LINKTYPE_LOOP: 4}


@dataclass(frozen=True)
class DecoderConfig:
    vendor_header_len: int = DEFAULT_VENDOR_HEADER_LEN  # bytes after a GRE 0x8949 header
    span: bool = False  # frames are raw SPAN copies, not encapsulated mirror streams


@dataclass
class Decoded:
    """One row per frame; -1 where a field does not apply. Flow columns hold where reason == 0."""

    reason: np.ndarray
    timestamp: np.ndarray
    session: np.ndarray  # bool: the frame belongs to a mirror stream (session columns hold)
    outer_version: np.ndarray  # 4, 6, or 0 for SPAN
    outer_src: np.ndarray  # (n, 2) uint64, as IpFields.src
    outer_dst: np.ndarray
    gre_proto: np.ndarray
    sequence: np.ndarray
    session_id: np.ndarray
    truncated: np.ndarray  # bool: T bit, short capture, or inner IP longer than captured
    port_index: np.ndarray  # source port index from the ERSPAN header (tunnel.port_index)
    erspan_type: np.ndarray
    direction: np.ndarray
    vlan: np.ndarray
    version: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    proto: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    tcp_flags: np.ndarray
    dscp: np.ndarray
    length: np.ndarray  # inner IP-layer bytes
    payload: np.ndarray  # where the mirrored frame starts in the captured one (SPAN: 0)
    payload_ip: np.ndarray  # bool: the mirror carries an IP packet there, not an Ethernet frame

    @classmethod
    def empty(cls, fr: Frames) -> "Decoded":
        n = len(fr)
        columns = {f.name: np.full(n, -1, dtype=np.int64) for f in fields(cls)}
        columns.update(timestamp=fr.timestamp, session=np.zeros(n, bool), truncated=np.zeros(n, bool),
                       payload_ip=np.zeros(n, bool),
                       outer_src=np.zeros((n, 2), np.uint64), outer_dst=np.zeros((n, 2), np.uint64),
                       src=np.zeros((n, 2), np.uint64), dst=np.zeros((n, 2), np.uint64),
                       reason=np.zeros(n, np.int64), outer_version=np.zeros(n, np.int64))
        return cls(**columns)


def decode(fr: Frames, config: DecoderConfig = DecoderConfig()) -> Decoded:
    out = Decoded.empty(fr)
    idx = np.arange(len(fr))
    reason, ethertype, l3, vlan = link_layer(fr, idx)
    out.reason[:] = reason
    keep = reason == 0
    idx, ethertype, l3, vlan = idx[keep], ethertype[keep], l3[keep], vlan[keep]
    if config.span:
        out.session[:] = True
        out.payload[:] = 0
        out.truncated[:] = fr.caplen < fr.wirelen
        _mirrored_packets(fr, out, idx, ethertype, l3, vlan, np.zeros(len(idx), bool))
        return out
    is_ip = (ethertype == ETH_IPV4) | (ethertype == ETH_IPV6)
    out.reason[idx[~is_ip]] = CODE["not_mirror"]
    idx, ethertype, l3 = idx[is_ip], ethertype[is_ip], l3[is_ip]
    ip = parse_ip(fr, idx, l3, ethertype, "outer")
    out.reason[idx] = np.select(
        [ip.reason != 0, ip.proto != GRE, ip.fragment_offset != 0],
        [ip.reason, CODE["not_mirror"], CODE["outer_fragment"]], 0)
    gre = out.reason[idx] == 0
    idx, fragmented = idx[gre], ip.more_fragments[gre]
    tun = parse_tunnel(fr, idx, ip.l4[gre], config.vendor_header_len)
    out.reason[idx] = tun.reason
    out.session[idx] = tun.session
    out.outer_version[idx] = ip.version[gre]
    out.outer_src[idx], out.outer_dst[idx] = ip.src[gre], ip.dst[gre]
    for name in ("gre_proto", "sequence", "session_id", "erspan_type", "direction", "port_index"):
        getattr(out, name)[idx] = getattr(tun, name)
    out.vlan[idx] = np.where(tun.erspan_vlan > 0, tun.erspan_vlan, -1)
    out.truncated[idx] = tun.truncated | (fr.caplen[idx] < fr.wirelen[idx])
    ethernet = tun.payload_type == PAYLOAD_ETHERNET
    bare_ip = (tun.payload_type == ETH_IPV4) | (tun.payload_type == ETH_IPV6)
    out.payload[idx] = np.where(ethernet | bare_ip, tun.payload, -1)
    out.payload_ip[idx] = bare_ip
    rows, l2 = idx[ethernet], tun.payload[ethernet]
    reason, inner_type, inner_l3, inner_vlan = walk_ethernet(fr, rows, l2, "inner")
    out.reason[rows] = reason
    ok = reason == 0
    _mirrored_packets(fr, out, rows[ok], inner_type[ok], inner_l3[ok], inner_vlan[ok],
                      fragmented[ethernet][ok])
    _mirrored_packets(fr, out, idx[bare_ip], tun.payload_type[bare_ip], tun.payload[bare_ip],
                      np.full(int(bare_ip.sum()), -1), fragmented[bare_ip])
    return out


def link_layer(fr: Frames, idx: np.ndarray):
    """(reason, ethertype, l3 offset, outermost vlan) from each frame's link type."""
    n = len(idx)
    reason = np.full(n, CODE["unsupported_linktype"], dtype=np.int64)
    ethertype, l3, vlan = np.zeros(n, np.int64), np.zeros(n, np.int64), np.full(n, -1, np.int64)
    linktypes = fr.linktype[idx]
    for linktype in np.unique(linktypes):
        rows = np.flatnonzero(linktypes == linktype)
        f, zero = idx[rows], np.zeros(len(rows), np.int64)
        if linktype == LINKTYPE_ETHERNET:
            result = walk_ethernet(fr, f, zero, "outer")
        elif linktype == LINKTYPE_LINUX_SLL:
            result = walk_vlan_tags(fr, f, zero + 14, "outer")
            result[0][~fr.has(f, zero, 16)] = CODE["outer_l2_truncated"]
        elif int(linktype) in IP_LINK_HEADER:
            start = zero + IP_LINK_HEADER[int(linktype)]
            v6 = fr.u8(f, start) >> 4 == 6
            result = (np.where(fr.has(f, start, 1), 0, CODE["outer_l2_truncated"]),
                      np.where(v6, ETH_IPV6, ETH_IPV4), fr.clamp(f, start), zero - 1)
        else:
            continue
        reason[rows], ethertype[rows], l3[rows], vlan[rows] = result
    return reason, ethertype, l3, vlan


def _mirrored_packets(fr: Frames, out: Decoded, idx, ethertype, l3, vlan, fragmented) -> None:
    """Fill the flow columns of frames whose mirrored packet has `ethertype` at `l3`."""
    is_ip = (ethertype == ETH_IPV4) | (ethertype == ETH_IPV6)
    out.reason[idx[~is_ip]] = CODE["inner_not_ip"]
    idx, ethertype, l3, vlan, fragmented = (a[is_ip] for a in (idx, ethertype, l3, vlan, fragmented))
    ip = parse_ip(fr, idx, l3, ethertype, "inner")
    out.reason[idx] = ip.reason
    sport, dport, tcp_flags, cut = parse_ports(fr, idx, ip)
    out.truncated[idx] |= cut | (~fragmented & (fr.caplen[idx] - l3 < ip.length))
    out.vlan[idx] = np.where(vlan >= 0, vlan, out.vlan[idx])
    out.version[idx], out.src[idx], out.dst[idx] = ip.version, ip.src, ip.dst
    out.proto[idx], out.length[idx], out.dscp[idx] = ip.proto, ip.length, ip.dscp
    out.sport[idx], out.dport[idx], out.tcp_flags[idx] = sport, dport, tcp_flags
