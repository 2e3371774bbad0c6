"""A small ctypes binding to libbpf (Debian's libbpf.so.1): the agent's one BPF loader.

CO-RE objects are compiled at build time (bpf/Makefile); at run time nothing compiles, so no
LLVM is ever mapped into the agent. `objects` loads objects and reads maps, `netattach`
attaches to devices (XDP, TC clsact) and `xdp` holds the one rule for taking an XDP hook;
`object_path` finds a built object for the running machine's architecture.
"""
from __future__ import annotations

import os
from pathlib import Path

from .libbpf import NUM_CPUS, BpfError
from .objects import BpfObject, Index, Link, Map, Program, kernel_enum, prog_name_by_id

BUILD_DIR = Path(__file__).resolve().parents[2] / "bpf" / "build"  # a checkout, after make -C bpf
INSTALL_DIR = Path("/usr/lib/telegen-sonic/bpf")  # the container image (docker/Dockerfile)
OBJECT_DIR_ENV = "SONIC_AGENT_BPF_DIR"


def object_path(name: str) -> Path:
    """A built object: $SONIC_AGENT_BPF_DIR/<name>, else the checkout's, else the installed one.
    (Not a TELEGEN_* name: those are config overrides, see sonic_agent/config.py.)"""
    if os.environ.get(OBJECT_DIR_ENV):
        return Path(os.environ[OBJECT_DIR_ENV]) / name
    return next((d / name for d in (BUILD_DIR, INSTALL_DIR) if (d / name).is_file()), BUILD_DIR / name)


__all__ = ["NUM_CPUS", "BpfError", "BpfObject", "Index", "Link", "Map", "Program", "kernel_enum",
           "object_path", "prog_name_by_id"]
