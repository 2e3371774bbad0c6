"""The bounded flow table: mirrored packets aggregated by flow key, least recently seen evicted.

A batch is grouped by key with numpy and merged into a `SlotTable` (numpy columns, LRU by
each flow's last packet, evictions counted). Keys are packed 64-bit words, the mirror stream's
first (erspan.streams), unpacked into `Flow` only when read.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, List, Optional

import numpy as np

from .decoder import Decoded
from .grouping import group_rows
from .slots import BoundedTable
from .streams import STREAM_WORDS, Stream, address, pack_streams, stream_mask, unpack_stream

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
    # The mirror stream (part of the key, with session_id): what correlation matches to a
    # MIRROR_SESSION. None for SPAN frames.
    outer_src: Optional[str] = None
    outer_dst: Optional[str] = None
    gre_proto: Optional[int] = None
    port_index: Optional[int] = None  # from the ERSPAN header, see erspan.tunnel.port_index


FLOW_WORDS = STREAM_WORDS + 6


def pack_flow_keys(d: Decoded, rows: np.ndarray) -> np.ndarray:
    """(len(rows), 11) uint64 keys: the stream (5 words), src high/low, dst high/low, header
    fields, ports."""
    meta = (((d.erspan_type[rows] + 1) << 40) | ((d.direction[rows] + 1) << 36)
            | (d.version[rows] << 32) | (d.proto[rows] << 24) | (d.vlan[rows] + 1))
    ports = ((d.sport[rows] + 1) << 20) | (d.dport[rows] + 1)
    return np.column_stack([pack_streams(d, rows), d.src[rows], d.dst[rows], meta.astype(np.uint64),
                            ports.astype(np.uint64)])


def _optional(packed: int) -> Optional[int]:
    """Fields are stored plus one so that 0 means 'does not apply'."""
    return packed - 1 if packed else None


FLOW_COLUMNS = {
    "key": (np.uint64, (FLOW_WORDS,), 0), "packets": (np.int64, (), 0), "bytes": (np.int64, (), 0),
    "tcp_flags": (np.int64, (), 0), "dscp": (np.int64, (), 0), "first": (np.float64, (), np.inf),
    "last": (np.float64, (), -np.inf), "port_index": (np.int64, (), -1),
}


class FlowTable(BoundedTable):
    """Flows keyed by (mirror stream: outer src, outer dst, GRE protocol, session id; erspan
    type, direction, vlan, src, dst, proto, sport, dport)."""

    COLUMNS = FLOW_COLUMNS

    def __init__(self, max_flows: int = 65536):
        super().__init__(max_flows)

    def add(self, d: Decoded) -> None:
        rows = np.flatnonzero(d.reason == 0)
        if not len(rows):
            return
        groups = group_rows(pack_flow_keys(d, rows))
        slots = self._table.assign(groups.keys.view(np.dtype((np.void, 8 * FLOW_WORDS))).ravel().tolist(),
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
        c["dscp"][s], c["port_index"][s] = d.dscp[latest], d.port_index[latest]

    def flows(self) -> List[Flow]:
        """Every flow, least recently seen first."""
        return self._flows_at(self._table.occupied())

    def top(self, k: int, by: str = "bytes") -> List[Flow]:
        """The k largest flows by bytes (or packets), largest first."""
        slots = self._table.occupied()
        column = self._table.columns[{"bytes": "bytes", "packets": "packets"}[by]]
        return self._flows_at(slots[np.argsort(-column[slots], kind="stable")[:k]])

    def of_streams(self, streams: Iterable[Stream], k: int, by: str = "bytes") -> List[Flow]:
        """The k largest flows (by bytes or packets) of the given mirror streams, any session id."""
        slots = self._table.occupied()
        slots = slots[stream_mask(self._table.columns["key"][slots], streams)]
        column = self._table.columns[{"bytes": "bytes", "packets": "packets"}[by]]
        return self._flows_at(slots[np.argsort(-column[slots], kind="stable")[:k]])

    def _flows_at(self, slots: np.ndarray) -> List[Flow]:
        c = self._table.columns
        columns = [c[name][slots].tolist() for name in FLOW_COLUMNS]
        return [_flow(*row) for row in zip(*columns)]


def _flow(key, packets, octets, tcp_flags, dscp, first, last, port_index) -> Flow:
    src_hi, src_lo, dst_hi, dst_lo, meta, ports = key[STREAM_WORDS:]
    version, proto = (meta >> 32) & 0xF, (meta >> 24) & 0xFF
    direction = _optional((meta >> 36) & 0xF)
    return Flow(
        erspan_type=_optional(meta >> 40), direction=None if direction is None else DIRECTIONS[direction],
        vlan=_optional(meta & 0x1FFF), src=address(version, src_hi, src_lo),
        dst=address(version, dst_hi, dst_lo), proto=proto, sport=_optional(ports >> 20),
        dport=_optional(ports & 0xFFFFF), packets=packets, bytes=octets,
        tcp_flags=tcp_flags if proto == 6 else None, dscp=dscp, first_seen=first, last_seen=last,
        port_index=port_index if port_index >= 0 else None, **unpack_stream(*key[:STREAM_WORDS]))
