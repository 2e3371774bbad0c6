"""The kernel path of mirror decoding: the XDP decoder (bpf/erspan_decoder.bpf.c) on the
collector interface, read into the erspan library's own `Flow` and `Session` records.

`XdpMirrorDecoder` answers like `erspan.MirrorCollector` (flows, top_flows, sessions, stats),
so the agent can run either, and the records go through `sonic_agent.mirror.records` the same
way. The kernel decodes what it can and passes the rest to the stack (each frame's reason is
counted), where an AF_PACKET capture feeding the library sees exactly the passed frames.
Sessions: `packets` counts every frame of the stream the kernel attributed, `passed` those it
left to userspace; sequence loss is computed in the kernel over all of them, so take loss from
here, not from a userspace collector that only sees the passed ones.
Flows: the LRU map evicts silently, so evictions are inserts (counted by the program) minus
entries present. Sessions: a set-associative array (max_sessions rounded up to whole sets of 8,
a power of two of them); the program counts its evictions.
Timestamps come from the program's timer-kept clock: first/last seen are within 10 ms.
"""
from __future__ import annotations

import errno
import math
import os
import socket
import time
from ctypes import Structure, c_uint8, c_uint16, c_uint32, c_uint64, sizeof
from dataclasses import dataclass
from typing import Dict, List, Optional, Union

import numpy as np

from erspan.flows import DIRECTIONS, Flow, address
from erspan.reasons import MALFORMED
from erspan.sessions import Session
from erspan.tunnel import DEFAULT_VENDOR_HEADER_LEN

from ..bpf import BpfError, BpfObject, object_path, prog_name_by_id
from ..bpf.objects import prog_fd_by_id
from ..bpf.netattach import xdp_attach, xdp_detach, xdp_query

OBJECT = "erspan_decoder.bpf.o"
PROG = "tgs_mirror_xdp"
MAP_FLOWS, MAP_SESSIONS, MAP_REASONS = "mirror_flows", "mirror_sessions", "mirror_reasons"
MAP_STATS, MAP_CONFIG = "mirror_stats", "mirror_config"
REASON_ENUM, REASON_PREFIX = "mirror_reason", "MIRROR_"
NO_ID, NO_DIRECTION = 0xFFFF, 0xFF
SESSION_WAYS, SESSION_PHASE, SESSION_READY = 8, 3, 2  # MIRROR_SESSION_WAYS, _PHASE, _READY
VENDOR_HEADER_MAX = 255


# ctypes mirrors of bpf/erspan_decoder.h; Map.read checks their sizes against the kernel's.
class Addrs(Structure):
    _fields_ = [("src", c_uint8 * 16), ("dst", c_uint8 * 16)]


class FlowKey(Structure):
    _fields_ = [("addrs", Addrs), ("sport", c_uint16), ("dport", c_uint16), ("vlan", c_uint16),
                ("session_id", c_uint16), ("erspan_type", c_uint8), ("direction", c_uint8),
                ("version", c_uint8), ("proto", c_uint8), ("has_ports", c_uint8), ("pad", c_uint8 * 3)]


class FlowValue(Structure):
    _fields_ = [("packets", c_uint64), ("bytes", c_uint64), ("tcp_flags", c_uint64),
                ("first_seen_ns", c_uint64), ("last_seen_ns", c_uint64), ("outer", Addrs),
                ("gre_proto", c_uint16), ("outer_version", c_uint8), ("dscp", c_uint8), ("port_index", c_uint32),
                ("has_port_index", c_uint8), ("pad", c_uint8 * 7)]


class SessionKey(Structure):
    _fields_ = [("outer", Addrs), ("gre_proto", c_uint16), ("session_id", c_uint16),
                ("outer_version", c_uint8), ("pad", c_uint8 * 3)]


class SessionSlot(Structure):
    _fields_ = [("lock", c_uint32), ("pad", c_uint32), ("state", c_uint64), ("key", SessionKey), ("packets", c_uint64), ("passed", c_uint64),
                ("truncated", c_uint64), ("lost", c_uint64), ("seq", c_uint64), ("first_seen_ns", c_uint64),
                ("last_seen_ns", c_uint64)]


class Config(Structure):
    _fields_ = [("vendor_header_len", c_uint32), ("drop", c_uint32), ("session_sets", c_uint32),
                ("pad", c_uint32), ("session_seed", c_uint64)]


class Index(Structure):
    _fields_ = [("value", c_uint32)]


class Count(Structure):
    _fields_ = [("value", c_uint64)]


class Stats(Structure):
    _fields_ = [("passed", c_uint64), ("flow_inserts", c_uint64),
                ("session_evictions", c_uint64), ("seq_contention", c_uint64)]


@dataclass(frozen=True)
class XdpSession(Session):
    """A mirror stream as the kernel counted it; `passed` frames were left to userspace."""

    passed: int = 0


def _addr(version: int, raw) -> str:
    data = bytes(raw)
    return address(version, int.from_bytes(data[:8], "big"), int.from_bytes(data[8:], "big"))


class _Clock:
    """bpf_ktime_get_ns (CLOCK_MONOTONIC) to wall-clock seconds, fixed at read time."""

    def __init__(self):
        self.offset = time.time() - time.monotonic_ns() / 1e9

    def __call__(self, ns: int) -> float:
        return self.offset + ns / 1e9


def flow_from_entry(k: FlowKey, v: FlowValue, clock: _Clock) -> Flow:
    return Flow(
        erspan_type=k.erspan_type or None, session_id=None if k.session_id == NO_ID else k.session_id,
        direction=DIRECTIONS.get(k.direction), vlan=None if k.vlan == NO_ID else k.vlan,
        src=_addr(k.version, k.addrs.src), dst=_addr(k.version, k.addrs.dst), proto=k.proto,
        sport=k.sport if k.has_ports else None, dport=k.dport if k.has_ports else None,
        packets=v.packets, bytes=v.bytes, tcp_flags=v.tcp_flags if k.proto == 6 else None, dscp=v.dscp,
        first_seen=clock(v.first_seen_ns), last_seen=clock(v.last_seen_ns),
        outer_src=_addr(v.outer_version, v.outer.src), outer_dst=_addr(v.outer_version, v.outer.dst),
        gre_proto=v.gre_proto, port_index=v.port_index if v.has_port_index else None)


def session_from_slot(v: SessionSlot, clock: _Clock) -> XdpSession:
    k = v.key
    return XdpSession(
        outer_src=_addr(k.outer_version, k.outer.src), outer_dst=_addr(k.outer_version, k.outer.dst),
        gre_proto=k.gre_proto, session_id=None if k.session_id == NO_ID else k.session_id,
        packets=v.packets, lost=v.lost, truncated=v.truncated, malformed={},
        first_seen=clock(v.first_seen_ns), last_seen=clock(v.last_seen_ns), passed=v.passed)


class XdpMirrorDecoder:
    """Load the decoder (maps sized here), configure it, attach it to one interface."""

    def __init__(self, max_flows: int = 65536, max_sessions: int = 4096,
                 vendor_header_len: int = DEFAULT_VENDOR_HEADER_LEN, drop: bool = True,
                 path: Optional[str] = None):
        if not 0 <= vendor_header_len <= VENDOR_HEADER_MAX:
            raise ValueError(f"vendor_header_len must be 0..{VENDOR_HEADER_MAX}, not {vendor_header_len}")
        session_sets = 1 << max(0, math.ceil(max_sessions / SESSION_WAYS) - 1).bit_length()
        self.obj = BpfObject(str(path or object_path(OBJECT)),
                             max_entries={MAP_FLOWS: max_flows, MAP_SESSIONS: session_sets * SESSION_WAYS})
        self.ifindex: Optional[int] = None
        self._mode = 0
        try:
            self.program = self.obj.program(PROG)
            self._flows, self._sessions = self.obj.map(MAP_FLOWS), self.obj.map(MAP_SESSIONS)
            self._reasons, self._stats = self.obj.map(MAP_REASONS), self.obj.map(MAP_STATS)
            self.reason_names = self._reason_names()
            config = Config(vendor_header_len, int(drop), session_sets, 0, int.from_bytes(os.urandom(8), "little"))
            self.obj.map(MAP_CONFIG).update(Index(0), bytes(config))
        except BaseException:
            self.obj.close()
            raise

    def _reason_names(self) -> List[str]:
        """Reason names by code, from the enum in the object's BTF (MIRROR_REASONS is the count)."""
        enum = self._reasons.enum(REASON_ENUM)
        count = next(v for v, n in enum.items() if n == REASON_PREFIX + "REASONS")
        return [enum[i][len(REASON_PREFIX):].lower() for i in range(count)]

    def attach(self, interface: Union[str, int], mode: int = 0) -> None:
        """Attach to a device of the calling thread's network namespace (detach and close from
        the same one). A decoder left there by a previous agent (same program name) is replaced
        atomically; a device with anyone else's XDP program is refused, never overwritten."""
        ifindex = interface if isinstance(interface, int) else socket.if_nametoindex(interface)
        prog_id, current_mode = xdp_query(ifindex)
        if prog_id and prog_name_by_id(prog_id) == PROG:
            old_fd = prog_fd_by_id(prog_id)
            try:
                xdp_attach(ifindex, self.program.fd, replace_fd=old_fd, mode=current_mode)
            finally:
                os.close(old_fd)
        else:
            try:
                xdp_attach(ifindex, self.program.fd, mode=mode)
            except BpfError as exc:
                if exc.errno not in (errno.EEXIST, errno.EBUSY):
                    raise
                prog_id, _ = xdp_query(ifindex)
                raise BpfError(exc.errno, f"{interface} already has XDP program {prog_id} "
                                          f"({prog_name_by_id(prog_id)}): not replacing it") from None
        self.ifindex, self._mode = ifindex, xdp_query(ifindex)[1]

    def detach(self) -> None:
        if self.ifindex is not None:
            xdp_detach(self.ifindex, self.program.fd, self._mode)
            self.ifindex = None

    def close(self) -> None:
        try:
            self.detach()
        finally:
            self.obj.close()

    def __enter__(self) -> "XdpMirrorDecoder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def flows(self) -> List[Flow]:
        clock = _Clock()
        return [flow_from_entry(k, v, clock) for k, v in self._flows.read(FlowKey, FlowValue)]

    def top_flows(self, k: int, by: str = "bytes") -> List[Flow]:
        """The k largest flows, chosen with numpy on the raw map values (a column of the
        values blob) before any Flow is built."""
        clock = _Clock()
        self._flows.check_layout(FlowKey, FlowValue)
        keys, values, n = self._flows.blobs()
        if not n:
            return []
        column = np.ndarray((n,), "<u8", values, getattr(FlowValue, by).offset, (sizeof(FlowValue),))
        top = np.argsort(column, kind="stable")[::-1][:k]
        return [flow_from_entry(FlowKey.from_buffer_copy(keys, i * sizeof(FlowKey)),
                                FlowValue.from_buffer_copy(values, i * sizeof(FlowValue)), clock) for i in top]

    def _ready_slots(self) -> List[bytes]:
        """The READY slots of the array, picked on the raw state byte before any decoding."""
        self._sessions.check_layout(Index, SessionSlot)
        state = SessionSlot.state.offset  # its low byte (little-endian) holds the phase
        return [v for _, v in self._sessions.items() if v[state] & SESSION_PHASE == SESSION_READY]

    def sessions(self) -> List[XdpSession]:
        clock = _Clock()
        return [session_from_slot(SessionSlot.from_buffer_copy(v), clock) for v in self._ready_slots()]

    def reasons(self) -> Dict[str, int]:
        """Frames by outcome (non-zero only): "ok" made a flow; see enum mirror_reason."""
        counts = self._reasons.read(Index, Count)
        return {self.reason_names[k.value]: int(v.value) for k, v in counts if v.value}

    def stats(self) -> Dict[str, object]:
        """As MirrorCollector.stats, plus what only the kernel path has (passed, contention).
        Malformed and skipped frames (but erspan_frame_type, inner_not_ip) were passed to the
        stack: a userspace collector on the device counts them again, with its own reasons."""
        ((_, s),) = self._stats.read(Index, Stats)  # first: a racing insert makes evictions read low
        flows, sessions = self._flows.blobs()[2], len(self._ready_slots())
        by_reason = self.reasons()
        return {"frames": sum(by_reason.values()), "flow_packets": by_reason.get("ok", 0),
                "malformed": {n: c for n, c in by_reason.items() if n in MALFORMED},
                "skipped": {n: c for n, c in by_reason.items() if n != "ok" and n not in MALFORMED},
                "passed": int(s.passed), "flows": flows,
                "flow_evictions": max(0, int(s.flow_inserts) - flows), "sessions": sessions,
                "session_evictions": int(s.session_evictions),
                "seq_contention": int(s.seq_contention)}


__all__ = ["OBJECT", "PROG", "XdpMirrorDecoder", "XdpSession", "FlowKey", "FlowValue", "SessionKey",
           "SessionSlot", "Config", "Stats"]
