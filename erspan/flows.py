"""The bounded flow table: mirrored packets aggregated by flow key, least recently seen evicted.

A batch is grouped by key with numpy and merged into a `SlotTable` (numpy columns, LRU by
each flow's last packet, evictions counted). Keys are six packed 64-bit words, unpacked
into `Flow` only when read.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from .decoder import Decoded
from .grouping import group_rows
from .slots import BoundedTable

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


FLOW_COLUMNS = {
    "key": (np.uint64, (6,), 0), "packets": (np.int64, (), 0), "bytes": (np.int64, (), 0),
    "tcp_flags": (np.int64, (), 0), "dscp": (np.int64, (), 0), "first": (np.float64, (), np.inf),
    "last": (np.float64, (), -np.inf), "outer_version": (np.int64, (), 0),
    "outer_src": (np.uint64, (2,), 0), "outer_dst": (np.uint64, (2,), 0),
    "gre_proto": (np.int64, (), -1), "port_index": (np.int64, (), -1),
}


class FlowTable(BoundedTable):
    """Flows keyed by (erspan type, session id, direction, vlan, src, dst, proto, sport, dport)."""

    COLUMNS = FLOW_COLUMNS

    def __init__(self, max_flows: int = 65536):
        super().__init__(max_flows)

    def add(self, d: Decoded) -> None:
        rows = np.flatnonzero(d.reason == 0)
        if not len(rows):
            return
        groups = group_rows(pack_flow_keys(d, rows))
        slots = self._table.assign(groups.keys.view(np.dtype((np.void, 48))).ravel().tolist(),
                                   groups.last_rows, len(rows))
        kept = slots >= 0
        s, latest = slots[kept], rows[groups.last_rows[kept]]
        c = self._table.columns
        c["key"][s] = groups.keys[kept]
        c["packets"][s] += (groups.ends - groups.starts)[kept]
        c["bytes"][s] += groups.reduce(np.add, d.length[rows])[kept]
        c["tcp_flags"][s] |= groups.reduce(np.bitwise_or, np.maximum(d.tcp_flags[rows], 0))[kept]
        c["first"][s] = np.minimum(c["first"][s], groups.reduce(np.minimum, d.timestamp[rows])[kept])
        c["last"][s] = np.maximum(c["last"][s], groups.reduce(np.maximum, d.timestamp[rows])[kept])
        for name, column in (("dscp", d.dscp), ("outer_version", d.outer_version), ("outer_src", d.outer_src),
                             ("outer_dst", d.outer_dst), ("gre_proto", d.gre_proto), ("port_index", d.port_index)):
            c[name][s] = column[latest]

    def flows(self) -> List[Flow]:
        """Every flow, least recently seen first."""
        return self._flows_at(self._table.occupied())

    def top(self, k: int, by: str = "bytes") -> List[Flow]:
        """The k largest flows by bytes (or packets), largest first."""
        slots = self._table.occupied()
        column = self._table.columns[{"bytes": "bytes", "packets": "packets"}[by]]
        return self._flows_at(slots[np.argsort(-column[slots], kind="stable")[:k]])

    def _flows_at(self, slots: np.ndarray) -> List[Flow]:
        c = self._table.columns
        columns = [c[name][slots].tolist() for name in FLOW_COLUMNS]
        return [_flow(*row) for row in zip(*columns)]


def _flow(key, packets, octets, tcp_flags, dscp, first, last, outer_version, outer_src, outer_dst,
          gre_proto, port_index) -> Flow:
    src_hi, src_lo, dst_hi, dst_lo, meta, ports = key
    version, proto = (meta >> 32) & 0xF, (meta >> 24) & 0xFF
    direction = _optional((meta >> 36) & 0xF)
    return Flow(
        erspan_type=_optional(meta >> 40), session_id=_optional((meta >> 13) & 0x7FF),
        direction=None if direction is None else DIRECTIONS[direction],
        vlan=_optional(meta & 0x1FFF), src=address(version, src_hi, src_lo),
        dst=address(version, dst_hi, dst_lo), proto=proto, sport=_optional(ports >> 20),
        dport=_optional(ports & 0xFFFFF), packets=packets, bytes=octets,
        tcp_flags=tcp_flags if proto == 6 else None, dscp=dscp, first_seen=first, last_seen=last,
        outer_src=address(outer_version, *outer_src) if outer_version else None,
        outer_dst=address(outer_version, *outer_dst) if outer_version else None,
        gre_proto=gre_proto if gre_proto >= 0 else None, port_index=port_index if port_index >= 0 else None)
