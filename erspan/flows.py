"""The bounded flow table: mirrored packets aggregated by flow key, least recently seen evicted.

A batch is grouped by key with numpy; the Python work per batch is one dictionary update per
distinct flow in it, in order of each flow's last packet, so the LRU order stays exact.
Keys are six packed 64-bit words and are unpacked into `Flow` only when read.
"""
from __future__ import annotations

import heapq
import ipaddress
from collections import OrderedDict
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from .decoder import Decoded
from .grouping import group_rows

DIRECTIONS = {0: "rx", 1: "tx"}  # ERSPAN III d bit: 0 ingress (rx), 1 egress (tx)


@dataclass(frozen=True)
class Flow:
    """One flow: its key (None where a field does not apply) and its counters."""

    erspan_type: Optional[int]
    session_id: Optional[int]
    direction: Optional[str]
    vlan: Optional[int]
    src: str
    dst: str
    proto: int
    sport: Optional[int]
    dport: Optional[int]
    packets: int
    bytes: int
    tcp_flags: Optional[int]  # OR of every packet's flags; None for non-TCP flows
    dscp: int  # of the latest packet
    first_seen: float
    last_seen: float
    # The mirror stream of the latest packet (not part of the key): what correlation matches
    # to a MIRROR_SESSION. None for SPAN frames.
    outer_src: Optional[str] = None
    outer_dst: Optional[str] = None
    gre_proto: Optional[int] = None
    port_index: Optional[int] = None  # from the ERSPAN header, see erspan.tunnel.port_index


def pack_flow_keys(d: Decoded, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 6) uint64 keys: src high/low, dst high/low, header fields, ports."""
    meta = (((d.erspan_type[rows] + 1) << 40) | ((d.direction[rows] + 1) << 36)
            | (d.version[rows] << 32) | (d.proto[rows] << 24) | ((d.session_id[rows] + 1) << 13)
            | (d.vlan[rows] + 1))
    ports = ((d.sport[rows] + 1) << 20) | (d.dport[rows] + 1)
    return np.column_stack([d.src[rows], d.dst[rows], meta.astype(np.uint64), ports.astype(np.uint64)])


def address(version: int, high: int, low: int) -> str:
    if version == 4:
        return str(ipaddress.IPv4Address(low))
    return str(ipaddress.IPv6Address((high << 64) | low))


def _optional(packed: int) -> Optional[int]:
    """Fields are stored plus one so that 0 means 'does not apply'."""
    return packed - 1 if packed else None


class FlowTable:
    """Flows keyed by (erspan type, session id, direction, vlan, src, dst, proto, sport, dport)."""

    def __init__(self, max_flows: int = 65536):
        self.max_flows = max_flows
        self.evictions = 0
        self._flows: "OrderedDict[Tuple[int, ...], list]" = OrderedDict()

    def __len__(self) -> int:
        return len(self._flows)

    def add(self, d: Decoded) -> None:
        rows = np.flatnonzero(d.reason == 0)
        if not len(rows):
            return
        groups = group_rows(pack_flow_keys(d, rows))
        packets = np.diff(np.append(groups.starts, len(rows)))
        octets = groups.reduce(np.add, d.length[rows])
        flags = groups.reduce(np.bitwise_or, np.maximum(d.tcp_flags[rows], 0))
        first = groups.reduce(np.minimum, d.timestamp[rows])
        last = groups.reduce(np.maximum, d.timestamp[rows])
        last_rows = groups.last_rows
        dscp = d.dscp[rows][last_rows]
        latest = rows[last_rows]
        streams = [(v, *src, *dst, gre, port) for v, src, dst, gre, port in zip(
            d.outer_version[latest].tolist(), d.outer_src[latest].tolist(),
            d.outer_dst[latest].tolist(), d.gre_proto[latest].tolist(), d.port_index[latest].tolist())]
        updates = list(zip(map(tuple, groups.keys.tolist()), packets.tolist(), octets.tolist(),
                           flags.tolist(), dscp.tolist(), first.tolist(), last.tolist(),
                           streams))
        table = self._flows
        for i in np.argsort(last_rows, kind="stable").tolist():
            key, n, octs, fl, ds, t0, t1, stream = updates[i]
            entry = table.get(key)
            if entry is None:
                table[key] = [n, octs, fl, ds, t0, t1, stream]
                if len(table) > self.max_flows:
                    table.popitem(last=False)
                    self.evictions += 1
            else:
                entry[0] += n
                entry[1] += octs
                entry[2] |= fl
                entry[3] = ds
                entry[4] = min(entry[4], t0)
                entry[5] = max(entry[5], t1)
                entry[6] = stream
                table.move_to_end(key)

    def flows(self) -> List[Flow]:
        """Every flow, least recently seen first."""
        return [self._flow(key, entry) for key, entry in self._flows.items()]

    def top(self, k: int, by: str = "bytes") -> List[Flow]:
        """The k largest flows by bytes (or packets), largest first."""
        column = {"bytes": 1, "packets": 0}[by]
        best = heapq.nlargest(k, self._flows.items(), key=lambda item: item[1][column])
        return [self._flow(key, entry) for key, entry in best]

    @staticmethod
    def _flow(key: Tuple[int, ...], entry: list) -> Flow:
        src_hi, src_lo, dst_hi, dst_lo, meta, ports = key
        version, proto = (meta >> 32) & 0xF, (meta >> 24) & 0xFF
        direction = _optional((meta >> 36) & 0xF)
        outer_version, outer_src_hi, outer_src_lo, outer_dst_hi, outer_dst_lo, gre_proto, port = entry[6]
        return Flow(
            erspan_type=_optional(meta >> 40), session_id=_optional((meta >> 13) & 0x7FF),
            direction=None if direction is None else DIRECTIONS[direction],
            vlan=_optional(meta & 0x1FFF), src=address(version, src_hi, src_lo),
            dst=address(version, dst_hi, dst_lo), proto=proto, sport=_optional(ports >> 20),
            dport=_optional(ports & 0xFFFFF), packets=entry[0], bytes=entry[1],
            tcp_flags=entry[2] if proto == 6 else None, dscp=entry[3], first_seen=entry[4],
            last_seen=entry[5],
            outer_src=address(outer_version, outer_src_hi, outer_src_lo) if outer_version else None,
            outer_dst=address(outer_version, outer_dst_hi, outer_dst_lo) if outer_version else None,
            gre_proto=gre_proto if gre_proto >= 0 else None, port_index=port if port >= 0 else None)
