"""The pin directory (`probes.pin_dir`), made and checked before a map is pinned or reused.

bpffs is usually mounted mode 1777, so anyone may create a name under it. The directory must
be on a bpf filesystem; it is created mode 0700, owned by the agent's user; an existing one
must be a real directory (not a symlink), owned by that user and writable by nobody else
(else its owner could delete the pins and reset the counters), in a parent that others
cannot rename it out of (not writable by others unless sticky). Each pin the agent reuses
must be a file of that owner, not a directory or a symlink someone left at its name. Any
other case is one UserError saying what was found and what to do.
"""
from __future__ import annotations

import ctypes
import os
import stat
from pathlib import Path
from typing import Iterable

from ..errors import UserError

BPF_FS_MAGIC = 0xCAFE4A11


class _StatFs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 112)]


_LIBC = ctypes.CDLL(None, use_errno=True)


def is_bpffs(path: Path) -> bool:
    buf = _StatFs()
    if _LIBC.statfs(os.fsencode(str(path)), ctypes.byref(buf)) != 0:
        return False
    return buf.f_type & 0xFFFFFFFF == BPF_FS_MAGIC


def _where(path: Path) -> str:
    return f"probes.pin_dir {path}"


def prepare(pin_dir: str, pins: Iterable[str]) -> Path:
    """The checked pin directory (created when missing), its existing pins checked."""
    path = Path(pin_dir)
    if not path.is_absolute():
        raise UserError(f"{_where(path)}: must be an absolute path")
    parent = path.parent
    if not parent.is_dir():
        raise UserError(f"{_where(path)}: {parent} is not a directory (needs bpffs mounted at /sys/fs/bpf)")
    if not is_bpffs(parent):
        raise UserError(f"{_where(path)}: {parent} is not a bpf filesystem: mount one (mount -t bpf bpf /sys/fs/bpf), "
                        "or, under `ip netns exec` (which remounts /sys without it), enter only the network "
                        "namespace: nsenter --net=/run/netns/NAME")
    info = os.lstat(parent)
    if info.st_mode & stat.S_IWOTH and not info.st_mode & stat.S_ISVTX:
        raise UserError(f"{_where(path)}: {parent} is writable by others and not sticky (chmod +t or o-w)")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UserError(f"{_where(path)}: cannot create it: {exc.strerror}") from None
    _check_owned(path, os.lstat(path), "the directory", stat.S_ISDIR)
    for name in pins:
        try:
            info = os.lstat(path / name)
        except FileNotFoundError:
            continue
        _check_owned(path, info, f"pin {name}", stat.S_ISREG)
    return path


def _check_owned(path: Path, info: os.stat_result, what: str, kind) -> None:
    me = os.geteuid()
    if stat.S_ISLNK(info.st_mode) or not kind(info.st_mode):
        found = "a symlink" if stat.S_ISLNK(info.st_mode) else "a directory" if stat.S_ISDIR(info.st_mode) else \
            "not a directory" if kind is stat.S_ISDIR else "not a pinned object"
        raise UserError(f"{_where(path)}: {what} is {found}: remove it (someone else may have made it)")
    if info.st_uid != me:
        raise UserError(f"{_where(path)}: {what} is owned by uid {info.st_uid}, not by this agent's uid {me}: "
                        "remove it (someone else made it) or pick another pin_dir")
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UserError(f"{_where(path)}: {what} is writable by others (mode {stat.S_IMODE(info.st_mode):04o}): "
                        "chmod go-w, or remove it")
