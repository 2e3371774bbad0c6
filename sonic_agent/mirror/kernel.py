"""The ctypes mirror of bpf/erspan_decoder.h: map keys and values, program and map names.

`Map.read`/`check_layout` compare every size with the kernel's map, so this mirror and the
header cannot drift silently. Reason names are not repeated here: they come from the BTF of
the loaded maps (enum mirror_reason).
"""
from __future__ import annotations

from ctypes import Structure, c_uint8, c_uint16, c_uint32, c_uint64

OBJECT = "erspan_decoder.bpf.o"  # kernels with BPF timers (5.15+)
OBJECT_5_10 = "erspan_decoder_5_10.bpf.o"  # the same program without timers or compare-and-swap
PROG_TYPE_XDP, HELPER_TIMER_INIT = 6, 169  # BPF_PROG_TYPE_XDP, BPF_FUNC_timer_init (uapi bpf.h)
PROG = "tgs_mirror_xdp"
PROG_PREFIX = "tgs_mirror_"  # how a decoder of ours is recognised on a device after a crash
MAP_FLOWS, MAP_SESSIONS, MAP_REASONS = "mirror_flows", "mirror_sessions", "mirror_reasons"
MAP_STATS, MAP_CONFIG = "mirror_stats", "mirror_config"
MAP_CAPTURE, MAP_FRAMES = "mirror_capture", "mirror_frames"  # jobs' capture: which streams, the ring buffer
READ_MAPS = (MAP_FLOWS, MAP_SESSIONS, MAP_REASONS, MAP_STATS)
REASON_ENUM, REASON_PREFIX = "mirror_reason", "MIRROR_"
NO_ID, NO_DIRECTION = 0xFFFF, 0xFF
SESSION_WAYS, SESSION_PHASE, SESSION_READY = 8, 3, 2  # MIRROR_SESSION_WAYS, _PHASE, _READY
VENDOR_HEADER_MAX = 255
CAPTURE_STREAMS, CAPTURE_SNAP_MAX = 8, 256  # MIRROR_CAPTURE_STREAMS, MIRROR_CAPTURE_SNAP_MAX


class Addrs(Structure):
    _fields_ = [("src", c_uint8 * 16), ("dst", c_uint8 * 16)]


class SessionKey(Structure):
    """A mirror stream: the session table's key; its seeded hash starts every flow's key."""

    _fields_ = [("outer", Addrs), ("gre_proto", c_uint16), ("session_id", c_uint16),
                ("outer_version", c_uint8), ("pad", c_uint8 * 3)]


class FlowKey(Structure):
    _fields_ = [("stream", c_uint64), ("addrs", Addrs), ("sport", c_uint16), ("dport", c_uint16),
                ("vlan", c_uint16), ("session_id", c_uint16), ("erspan_type", c_uint8), ("direction", c_uint8),
                ("version", c_uint8), ("proto", c_uint8), ("has_ports", c_uint8), ("pad", c_uint8 * 3)]


class FlowValue(Structure):
    _fields_ = [("packets", c_uint64), ("bytes", c_uint64), ("tcp_flag_bytes", c_uint64),
                ("first_seen_ns", c_uint64), ("last_seen_ns", c_uint64), ("outer", Addrs),
                ("gre_proto", c_uint16), ("outer_version", c_uint8), ("dscp", c_uint8), ("port_index", c_uint32),
                ("has_port_index", c_uint8), ("pad", c_uint8 * 7)]


class SessionSlot(Structure):
    _fields_ = [("lock", c_uint32), ("pad", c_uint32), ("state", c_uint64), ("key", SessionKey),
                ("packets", c_uint64), ("passed", c_uint64), ("truncated", c_uint64), ("lost", c_uint64),
                ("seq", c_uint64), ("first_seen_ns", c_uint64), ("last_seen_ns", c_uint64)]


class Config(Structure):
    _fields_ = [("vendor_header_len", c_uint32), ("drop", c_uint32), ("session_sets", c_uint32),
                ("pad", c_uint32), ("session_seed", c_uint64)]


class Count(Structure):
    _fields_ = [("value", c_uint64)]


class Stats(Structure):
    _fields_ = [("passed", c_uint64), ("flow_inserts", c_uint64),
                ("session_evictions", c_uint64), ("seq_contention", c_uint64)]


class CaptureStream(Structure):
    _fields_ = [("outer", Addrs), ("gre_proto", c_uint16), ("outer_version", c_uint8), ("pad", c_uint8 * 5)]


class CaptureConfig(Structure):
    _fields_ = [("streams", c_uint32), ("snap_len", c_uint32), ("dropped", c_uint64),
                ("stream", CaptureStream * CAPTURE_STREAMS)]


class Captured(Structure):
    """One mirror_frames record: the header, then `cap_len` bytes of the mirrored frame."""

    _fields_ = [("time_ns", c_uint64), ("outer", Addrs), ("frame_len", c_uint32), ("cap_len", c_uint32),
                ("port_index", c_uint32), ("gre_proto", c_uint16), ("session_id", c_uint16),
                ("outer_version", c_uint8), ("direction", c_uint8), ("has_port_index", c_uint8),
                ("ip_only", c_uint8), ("pad", c_uint32), ("data", c_uint8 * CAPTURE_SNAP_MAX)]
