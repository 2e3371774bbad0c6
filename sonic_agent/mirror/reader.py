"""Read the XDP decoder's maps into the erspan library's own `Flow` and `Session` records.

`DecoderMaps.read` reads each map once: the flow map once for its entry count and the top-K
(picked with numpy on the raw value column before any Flow is built), the session array once
(READY slots picked on the raw state byte), the reason and stats arrays once. It answers like
`erspan.MirrorCollector.read`, so the agent treats both sources alike.

Sessions: `packets` counts every frame of the stream the kernel attributed, `passed` those it
left to userspace; sequence loss is computed in the kernel over all of them, so take loss from
here, not from a userspace collector that only sees the passed ones. Flows: the LRU map evicts
silently, so evictions are inserts (counted by the program) minus entries present. Timestamps
come from the program's clock: timer-kept, first/last seen within 10 ms (on 5.10, whose
object has no timers, each frame's own time). TCP flags are kept one byte per flag
(`tcp_flags` turns them back into the OR of every packet's).
"""
from __future__ import annotations

import ipaddress
import time
from ctypes import sizeof
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Tuple

import numpy as np

from erspan import Reading
from erspan.flows import DIRECTIONS, Flow
from erspan.reasons import MALFORMED
from erspan.sessions import Session
from erspan.streams import Stream, address

from ..bpf import Index, Map
from . import kernel as k


@dataclass(frozen=True)
class XdpSession(Session):
    """A mirror stream as the kernel counted it; `passed` frames were left to userspace."""

    passed: int = 0


@dataclass
class DecoderReading(Reading):
    """`Reading` plus frames by outcome (non-zero only: "ok" made a flow; enum mirror_reason)."""

    reasons: Dict[str, int] = field(default_factory=dict)


def _addr(version: int, raw) -> str:
    data = bytes(raw)
    return address(version, int.from_bytes(data[:8], "big"), int.from_bytes(data[8:], "big"))


class Clock:
    """bpf_ktime_get_ns (CLOCK_MONOTONIC) to wall-clock seconds, fixed at read time."""

    def __init__(self):
        self.offset = time.time() - time.monotonic_ns() / 1e9

    def __call__(self, ns: int) -> float:
        return self.offset + ns / 1e9


def _packed(address_text: str) -> bytes:
    """An address as the program stores it (struct mirror_addrs): IPv4 in the last 4 of 16 bytes."""
    return ipaddress.ip_address(address_text).packed.rjust(16, b"\0")


def _id(value: int):
    return None if value == k.NO_ID else value


def tcp_flags(flag_bytes: int) -> int:
    """mirror_flow.tcp_flag_bytes (byte i non-zero once flag bit i was seen) as the flags' OR."""
    return sum(1 << i for i in range(8) if flag_bytes >> (8 * i) & 0xFF)


def flow_from_entry(key: k.FlowKey, v: k.FlowValue, clock: Clock) -> Flow:
    """A flow; its stream (hashed in the key) from the value, where the program keeps it."""
    return Flow(
        erspan_type=key.erspan_type or None, session_id=_id(key.session_id), direction=DIRECTIONS.get(key.direction),
        vlan=_id(key.vlan), src=_addr(key.version, key.addrs.src), dst=_addr(key.version, key.addrs.dst),
        proto=key.proto, sport=key.sport if key.has_ports else None, dport=key.dport if key.has_ports else None,
        packets=v.packets, bytes=v.bytes, tcp_flags=tcp_flags(v.tcp_flag_bytes) if key.proto == 6 else None,
        dscp=v.dscp,
        first_seen=clock(v.first_seen_ns), last_seen=clock(v.last_seen_ns),
        outer_src=_addr(v.outer_version, v.outer.src), outer_dst=_addr(v.outer_version, v.outer.dst),
        gre_proto=v.gre_proto, port_index=v.port_index if v.has_port_index else None)


def session_from_slot(v: k.SessionSlot, clock: Clock) -> XdpSession:
    s = v.key
    return XdpSession(
        outer_src=_addr(s.outer_version, s.outer.src), outer_dst=_addr(s.outer_version, s.outer.dst),
        gre_proto=s.gre_proto, session_id=_id(s.session_id), packets=v.packets, lost=v.lost,
        truncated=v.truncated, malformed={}, first_seen=clock(v.first_seen_ns), last_seen=clock(v.last_seen_ns),
        passed=v.passed)


class DecoderMaps:
    """The decoder's maps the agent reads, opened by name (`kernel.READ_MAPS`)."""

    def __init__(self, maps: Mapping[str, Map]):
        self.maps = dict(maps)
        self.maps[k.MAP_FLOWS].check_layout(k.FlowKey, k.FlowValue)
        self.maps[k.MAP_SESSIONS].check_layout(Index, k.SessionSlot)
        enum = self.maps[k.MAP_REASONS].enum(k.REASON_ENUM)
        count = next(v for v, n in enum.items() if n == k.REASON_PREFIX + "REASONS")
        self.reason_names = [enum[i][len(k.REASON_PREFIX):].lower() for i in range(count)]

    def read(self, top: Optional[int] = None, by: str = "bytes", watch: Iterable[Stream] = (),
             watch_limit: int = 0) -> DecoderReading:
        """The `top` largest flows by bytes or packets (every flow when None), the sessions,
        the reasons and the counters (as MirrorCollector.stats, plus passed, seq_contention
        and map_reads, the whole-map reads of these maps so far), and the `watch_limit`
        largest flows of the `watch` streams, from the same read. Malformed and skipped
        frames (but erspan_frame_type, inner_not_ip) were passed to the stack: a userspace
        collector on the device counts them again, with its own reasons."""
        clock = Clock()
        ((_, s),) = self.maps[k.MAP_STATS].read(Index, k.Stats)  # first: a racing insert makes evictions read low
        flows, watched, count = self._flows(top, by, watch, watch_limit, clock)
        sessions = self._sessions(clock)
        reasons = {self.reason_names[i.value]: int(c.value) for i, c in self.maps[k.MAP_REASONS].read(Index, k.Count)
                   if c.value}
        stats = {"frames": sum(reasons.values()), "flow_packets": reasons.get("ok", 0),
                 "malformed": {n: c for n, c in reasons.items() if n in MALFORMED},
                 "skipped": {n: c for n, c in reasons.items() if n != "ok" and n not in MALFORMED},
                 "flows": count, "flow_evictions": max(0, int(s.flow_inserts) - count),
                 "sessions": len(sessions), "session_evictions": int(s.session_evictions),
                 "passed": int(s.passed), "seq_contention": int(s.seq_contention),
                 "map_reads": sum(m.reads for m in self.maps.values())}
        return DecoderReading(flows, sessions, stats, watched, reasons)

    def _flows(self, top: Optional[int], by: str, watch: Iterable[Stream], watch_limit: int,
               clock: Clock) -> Tuple[List[Flow], List[Flow], int]:
        """One read of the flow map: (the top flows, the watched streams' top flows, how many
        entries it holds), picked on the raw value columns."""
        keys, values, n = self.maps[k.MAP_FLOWS].blobs()
        size = sizeof(k.FlowValue)
        column = np.ndarray((n,), "<u8", values, getattr(k.FlowValue, by).offset, (size,)) if n else np.zeros(0)
        order = np.argsort(column, kind="stable")[::-1]
        chosen = range(n) if top is None else order[:top].tolist()
        watched = []
        if watch and watch_limit and n:
            rows = np.frombuffer(values, np.uint8, n * size).reshape(n, size)
            outer = rows[:, k.FlowValue.outer.offset:k.FlowValue.outer.offset + sizeof(k.Addrs)]
            gre = np.ndarray((n,), "<u2", values, k.FlowValue.gre_proto.offset, (size,))
            mask = np.zeros(n, dtype=bool)
            for outer_src, outer_dst, gre_proto in watch:
                wanted = np.frombuffer(_packed(outer_src) + _packed(outer_dst), np.uint8)
                mask |= (outer == wanted).all(axis=1) & (gre == gre_proto)
            watched = order[mask[order]][:watch_limit].tolist()

        def flow(i: int) -> Flow:
            return flow_from_entry(k.FlowKey.from_buffer_copy(keys, i * sizeof(k.FlowKey)),
                                   k.FlowValue.from_buffer_copy(values, i * size), clock)
        return [flow(i) for i in chosen], [flow(i) for i in watched], n

    def _sessions(self, clock: Clock) -> List[XdpSession]:
        """One read of the session array: its READY slots, picked on the raw state byte."""
        state = k.SessionSlot.state.offset  # its low byte (little-endian) holds the phase
        return [session_from_slot(k.SessionSlot.from_buffer_copy(v), clock)
                for _, v in self.maps[k.MAP_SESSIONS].items() if v[state] & k.SESSION_PHASE == k.SESSION_READY]
