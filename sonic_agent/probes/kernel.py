"""The ctypes mirror of bpf/port_probe.h: map keys and values, program and map names.

`BpfObject`/`Map` check every size against the kernel's map at read time, so this mirror and
the header cannot drift silently. Enum names (classes, directions) are not repeated here:
they come from the BTF of the loaded maps (`Map.enum`).
"""
from __future__ import annotations

from ctypes import Structure, c_uint8, c_uint16, c_uint32, c_uint64

OBJECT = "port_probe.bpf.o"
PROG_XDP = "tgs_probe_xdp"
PROG_TC_EGRESS = "tgs_probe_tc_eg"
PROG_TC_INGRESS = "tgs_probe_tc_in"
PROG_DROPS = "tgs_probe_drop"
PROG_PREFIX = "tgs_probe_"  # how a program of ours is recognised on a device after a crash

MAP_PORTS = "port_counts"
MAP_TALKERS = "talkers"
MAP_DROPS = "drop_counts"
MAP_ERRORS = "probe_errors"
MAP_SETTINGS = "settings"
PINNED_MAPS = (MAP_PORTS, MAP_TALKERS, MAP_DROPS, MAP_ERRORS, MAP_SETTINGS)

SIZE_BUCKETS = 16
GRPC_PORTS_MAX = 8
# The TC filter slot the probes own on each device's clsact hooks.
TC_HANDLE = 0x7E1E
TC_PRIORITY = 0x7E1E


class PortKey(Structure):
    _fields_ = [("ifindex", c_uint32), ("dir", c_uint32)]


class ClassCount(Structure):
    _fields_ = [("packets", c_uint64), ("bytes", c_uint64)]


def port_counts_type(classes: int):
    """struct port_counts for a given number of classes (PROBE_CLASSES, read from BTF)."""

    class PortCounts(Structure):
        _fields_ = [("cls", ClassCount * classes), ("sizes", c_uint64 * SIZE_BUCKETS), ("seq", c_uint64)]

    return PortCounts


class TalkerKey(Structure):
    _fields_ = [("addr", c_uint8 * 16), ("ifindex", c_uint32), ("klass", c_uint32), ("family", c_uint8),
                ("proto", c_uint8), ("pad", c_uint16)]


class DropKey(Structure):
    _fields_ = [("ifindex", c_uint32), ("reason", c_uint32)]


class ProbeErrors(Structure):
    _fields_ = [("no_port_entry", c_uint64), ("talker_update", c_uint64), ("drops_full", c_uint64)]


class ProbeSettings(Structure):
    _fields_ = [("talker_sample", c_uint32), ("netns_ino", c_uint32), ("grpc_ports", c_uint16 * GRPC_PORTS_MAX)]
