"""The switch's Linux under node_exporter's names (so its dashboards work), OTel's system.* ones
and OpenConfig's /system where it has the leaf (sonic_agent/hoststats.py reads them)."""
from __future__ import annotations

from typing import List

from ..hoststats import MEMINFO
from .model import COUNTER, GAUGE, INFO, Entity, Key, Metric, Source
from .tables import part


def _entity(name: str, keys, help: str) -> Entity:
    return Entity(name, lambda s, name=name: s.families.get(name, ()), tuple(keys), help=help)


HOST_CPU = _entity("host_cpu", (Key("cpu", part(0), prom="cpu", otel="cpu.logical_number", otel_value=int),
                                Key("mode", part(1), prom="mode", otel="cpu.mode")), "a CPU of the switch, per mode")
HOST = _entity("host", (), "the switch's Linux")
HOST_FS = _entity("host_filesystem", (Key("device", part(0), prom="device", otel="system.device"),
                                      Key("fstype", part(1), prom="fstype", otel="system.filesystem.type"),
                                      Key("mountpoint", part(2), prom="mountpoint", otel="system.filesystem.mountpoint")),
                  "a mounted filesystem (pseudo filesystems left out)")
HOST_DISK = _entity("host_disk", (Key("device", part(0), prom="device", otel="system.device"),), "a block device")


def _value(name: str):
    return lambda row: row.values.get(name)


def metrics() -> List[Metric]:
    proc = Source("/proc", "stat")
    out = [Metric("host.cpu.seconds", HOST_CPU, COUNTER, "s", "Seconds the CPUs spent in each mode.", proc,
                  _value("host.cpu.seconds"), prom="node_cpu_seconds", otel="system.cpu.time")]
    out += [Metric(f"host.load{n}", HOST, GAUGE, "1", f"{n}m load average.", Source("/proc", "loadavg"),
                   _value(f"host.load{n}"), prom=f"node_load{n}", otel=f"system.cpu.load_average.{n}m")
            for n in (1, 5, 15)]
    out += [
        Metric("host.boot_time", HOST, GAUGE, "s", "Node boot time, in unixtime.", Source("/proc", "stat", "btime"),
               _value("host.boot_time"), prom="node_boot_time_seconds", gnmi="/telegen/host/state/boot-time"),
        Metric("host.time", HOST, GAUGE, "s", "System time in seconds since epoch (1970).", Source("agent", "clock"),
               _value("host.time"), prom="node_time_seconds"),
    ]
    oc_memory = {"MemTotal": "/system/memory/state/physical", "MemFree": "/system/memory/state/free"}
    otel_memory = {"MemFree": "free", "Buffers": "buffers", "Cached": "cached"}
    for field in MEMINFO:
        state = otel_memory.get(field)
        out.append(Metric(f"host.memory.{field}", HOST, GAUGE, "By", f"Memory information field {field}_bytes.",
                          Source("/proc", "meminfo", field), _value(f"host.memory.{field}"),
                          prom=f"node_memory_{field}_bytes", otel="system.memory.usage" if state else None,
                          otel_attrs=(("system.memory.state", state),) if state else (), gnmi=oc_memory.get(field)))
    out += [Metric(f"host.uname.{name}", HOST, INFO, "", "Labeled system information as provided by the uname "
                   "system call.", Source("/proc", "sys/kernel", name), _value(f"host.uname.{name}"),
                   prom="node_uname_info", info_label=name, gnmi=f"/telegen/host/state/uname-{name}")
            for name in ("sysname", "release", "version", "machine", "nodename")]
    fs = Source("statvfs", "/proc/1/mounts")
    out += [Metric(f"host.fs.{name}", HOST_FS, GAUGE, unit, help, fs, _value(f"host.fs.{name}"),
                   prom=f"node_filesystem_{prom}", gnmi=f"/telegen/host/filesystems/filesystem[mountpoint={{mountpoint}}]"
                   f"/state/{name.replace('_', '-')}")
            for name, prom, unit, help in (
        ("size", "size_bytes", "By", "Filesystem size in bytes."),
        ("free", "free_bytes", "By", "Filesystem free space in bytes."),
        ("avail", "avail_bytes", "By", "Filesystem space available to non-root users in bytes."),
        ("files", "files", "{file}", "Filesystem total file nodes."),
        ("files_free", "files_free", "{file}", "Filesystem total free file nodes."))]
    out += [Metric(f"host.fs.usage_{state}", HOST_FS, GAUGE, "By", "Filesystem space by state.", fs,
                   _value(f"host.fs.{field}"), otel="system.filesystem.usage",
                   otel_attrs=(("system.filesystem.state", state),))
            for state, field in (("used", "used"), ("free", "avail"), ("reserved", "reserved"))]
    disk = Source("/proc", "diskstats")
    out += [Metric(f"host.disk.{name}", HOST_DISK, COUNTER, unit, help, disk, _value(f"host.disk.{name}"),
                   prom=f"node_disk_{prom}", otel=otel, otel_attrs=attrs)
            for name, prom, unit, otel, attrs, help in (
        ("reads", "reads_completed", "{operation}", "system.disk.operations", (("disk.io.direction", "read"),),
         "The total number of reads completed successfully."),
        ("writes", "writes_completed", "{operation}", "system.disk.operations", (("disk.io.direction", "write"),),
         "The total number of writes completed successfully."),
        ("read_bytes", "read_bytes", "By", "system.disk.io", (("disk.io.direction", "read"),),
         "The total number of bytes read successfully."),
        ("written_bytes", "written_bytes", "By", "system.disk.io", (("disk.io.direction", "write"),),
         "The total number of bytes written successfully."),
        ("io_time", "io_time_seconds", "s", "system.disk.io_time", (), "Total seconds spent doing I/Os."))]
    return out
