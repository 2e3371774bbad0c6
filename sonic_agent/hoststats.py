"""The switch's Linux, read from /proc (and statvfs) as node_exporter reads it, into rows for
the catalogue's host entities (sonic_agent/catalogue/host.py).

`proc` is the host's /proc as the agent sees it (`/host/proc` when a container mounts it
there) and `root` the host's root (filesystem sizes are statvfs of `root` + mountpoint).
Pseudo and virtual filesystems are left out as node_exporter's defaults do, and so are network
and FUSE filesystems (statvfs of a dead NFS server or FUSE daemon blocks the tick). Files are
read whole (each is a few KB) up to MAX_FILE_BYTES; a file that is missing or odd leaves out
its rows (or lines), never the rest.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Dict, List

from .config import next_refresh
from .records import Row
from .sonic.fields import number

USER_HZ = os.sysconf("SC_CLK_TCK")
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
MEMINFO = ("MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "SwapTotal", "SwapFree", "Shmem",
           "Slab", "Active", "Inactive", "Dirty")
# node_exporter's --collector.filesystem.fs-types-exclude default
PSEUDO_FS = frozenset("autofs binfmt_misc bpf cgroup cgroup2 configfs debugfs devpts devtmpfs fusectl hugetlbfs "
                      "iso9660 mqueue nsfs overlay proc procfs pstore rpc_pipefs securityfs selinuxfs squashfs "
                      "erofs sysfs tracefs tmpfs ramfs nfsd".split())
# statvfs could block on these: left out whatever the mount options
NETWORK_FS = frozenset("nfs nfs4 cifs smb3 smbfs ceph glusterfs 9p afs lustre fuse fuseblk sshfs davfs".split())
SECTOR = 512
MAX_FILE_BYTES = 1 << 20
_MOUNT_ESCAPE = re.compile(r"\\([0-7]{3})")
MAX_ROWS = 256  # per entity: filesystems, disks and CPUs of any real switch fit


def _read(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(MAX_FILE_BYTES).decode("utf-8", "replace")
    except OSError:
        return ""


def _skipped_fs(fstype: str) -> bool:
    return fstype in PSEUDO_FS or fstype in NETWORK_FS or fstype.startswith("fuse.")


def cpu(proc: Path) -> List[Row]:
    rows = []
    for line in _read(proc / "stat").splitlines():
        name, *fields = line.split() or [""]
        if name.startswith("cpu") and name != "cpu":
            for mode, ticks in zip(CPU_MODES, fields):
                if ticks.isdigit():
                    rows.append(Row((name[3:], mode), {"host.cpu.seconds": int(ticks) / USER_HZ}))
    return rows[:MAX_ROWS * len(CPU_MODES)]


def system(proc: Path) -> List[Row]:
    values: Dict[str, object] = {}
    load = _read(proc / "loadavg").split()
    for name, text in zip(("host.load1", "host.load5", "host.load15"), load[:3]):
        value = number(text)
        if value is not None:
            values[name] = value
    for line in _read(proc / "stat").splitlines():
        btime = line.split()
        if len(btime) == 2 and btime[0] == "btime" and btime[1].isdigit():
            values["host.boot_time"] = int(btime[1])
    for line in _read(proc / "meminfo").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if name in MEMINFO and parts and parts[0].isdigit():
            values[f"host.memory.{name}"] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    uname = os.uname()
    for name, path, fallback in (("release", "sys/kernel/osrelease", uname.release),
                                 ("version", "sys/kernel/version", uname.version),
                                 ("nodename", "sys/kernel/hostname", uname.nodename)):
        values[f"host.uname.{name}"] = _read(proc / path).strip() or fallback
    values["host.uname.sysname"], values["host.uname.machine"] = uname.sysname, uname.machine
    values["host.time"] = time.time()
    return [Row((), values)]


def filesystems(proc: Path, root: Path) -> List[Row]:
    """Each mountpoint once, as its last mount (the one over-mounting the others) has it."""
    mounts: Dict[str, tuple] = {}
    for line in _read(proc / "1" / "mounts").splitlines() or _read(proc / "mounts").splitlines():
        parts = line.split()
        if len(parts) >= 3:
            mounts.pop(parts[1], None)  # re-inserted: in the order the last mounts were made
            mounts[parts[1]] = (parts[0], _unescape(parts[1]), parts[2])
    rows = []
    for device, mountpoint, fstype in mounts.values():
        if _skipped_fs(fstype):
            continue
        try:
            st = os.statvfs(str(root / mountpoint.lstrip("/")))
        except (OSError, ValueError):
            continue
        size, free, avail = st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize
        rows.append(Row((device, fstype, mountpoint), {
            "host.fs.size": size, "host.fs.free": free, "host.fs.avail": avail, "host.fs.used": size - free,
            "host.fs.reserved": free - avail, "host.fs.files": st.f_files, "host.fs.files_free": st.f_ffree}))
        if len(rows) >= MAX_ROWS:
            break
    return rows


def _unescape(field: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return _MOUNT_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field)


def disks(proc: Path) -> List[Row]:
    rows = []
    for line in _read(proc / "diskstats").splitlines():
        f = line.split()
        if len(f) < 14 or f[2].startswith(("loop", "ram")) or not all(x.isdigit() for x in f[3:14]):
            continue
        rows.append(Row((f[2],), {"host.disk.reads": int(f[3]), "host.disk.read_bytes": int(f[5]) * SECTOR,
                                  "host.disk.writes": int(f[7]), "host.disk.written_bytes": int(f[9]) * SECTOR,
                                  "host.disk.io_time": int(f[12]) / 1000}))
    return rows[:MAX_ROWS]


def read_host(proc: str = "/proc", root: str = "/") -> Dict[str, List[Row]]:
    """Every host entity's rows, by entity name."""
    p, r = Path(proc), Path(root)
    return {"host_cpu": cpu(p), "host": system(p), "host_filesystem": filesystems(p, r), "host_disk": disks(p)}


class HostReader:
    """`read_host` every `refresh_s`; the last rows in between."""

    def __init__(self, cfg):
        self._cfg = cfg
        self._next = 0.0
        self._rows: Dict[str, List[Row]] = {}

    def read(self) -> Dict[str, List[Row]]:
        now = time.monotonic()
        if now >= self._next:
            self._rows = read_host(self._cfg.proc, self._cfg.root)
            self._next = next_refresh(now, self._cfg.refresh_s)
        return self._rows
