"""A small ctypes binding to libbpf (Debian's libbpf.so.1): the agent's one BPF loader.

CO-RE objects are compiled at build time (bpf/Makefile); at run time nothing compiles, so no
LLVM is ever mapped into the agent. `objects` loads objects and reads maps, `netattach`
attaches to devices (XDP, TC clsact) and `xdp` holds the one rule for taking an XDP hook;
`object_path` finds a built object for the running machine's architecture.
"""
from __future__ import annotations

import os
import platform
from pathlib import Path

from .libbpf import NUM_CPUS, BpfError
from .objects import BpfObject, Index, Link, Map, Program, RingBuffer, kernel_enum, kernel_has_helper, prog_name_by_id

BUILD_DIR = Path(__file__).resolve().parents[2] / "bpf" / "build"  # a checkout, after make -C bpf
INSTALL_DIR = Path("/usr/lib/telegen-sonic/bpf")  # the extension image (docker/Containerfile)
OBJECT_DIR_ENV = "SONIC_AGENT_BPF_DIR"
ARCH_DIRS = {"x86_64": "x86", "aarch64": "arm64"}  # platform.machine() -> bpf/Makefile ARCH


def arch_dir(machine: str = "") -> str:
    """The object directory of an architecture (the running machine's by default)."""
    machine = machine or platform.machine()
    return ARCH_DIRS.get(machine, machine)


def object_path(name: str) -> Path:
    """A built object for the running machine: $SONIC_AGENT_BPF_DIR/<name>, else the checkout's
    bpf/build/<arch>/<name>, else the installed one. (Not a TELEGEN_* name: those are config
    overrides, see sonic_agent/config.py.)"""
    if os.environ.get(OBJECT_DIR_ENV):
        return Path(os.environ[OBJECT_DIR_ENV]) / name
    dirs = [d / arch_dir() for d in (BUILD_DIR, INSTALL_DIR)]
    return next((d / name for d in dirs if (d / name).is_file()), dirs[0] / name)


__all__ = ["NUM_CPUS", "BpfError", "BpfObject", "Index", "Link", "Map", "Program", "RingBuffer", "arch_dir",
           "kernel_enum", "kernel_has_helper", "object_path", "prog_name_by_id"]
