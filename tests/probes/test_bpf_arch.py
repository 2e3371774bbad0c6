"""The objects of every architecture: `make -C bpf` builds bpf/build/x86 and bpf/build/arm64
from the checked-in kernel.h (no vmlinux.h of the build host), each an eBPF ELF with its BTF
and CO-RE relocations; the agent loads the running machine's."""
from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from sonic_agent import bpf
from sonic_agent.bpf import BpfObject
from sonic_agent.mirror.kernel import OBJECT_5_10
from tests.conftest import REPO, require, require_root

EM_BPF, ELFDATA2LSB = 247, 1
# one object per source, and the decoder's second build (its 5.10 one)
OBJECTS = sorted([p.name[:-len(".bpf.c")] for p in (REPO / "bpf").glob("*.bpf.c")] + [OBJECT_5_10[:-len(".bpf.o")]])


def elf(path: Path):
    """(e_machine, byte order, section names) of a 64-bit ELF file."""
    data = path.read_bytes()
    assert data[:5] == b"\x7fELF\x02", path
    e_machine = struct.unpack_from("<H", data, 18)[0]
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    strtab = data[headers[shstrndx][4]:headers[shstrndx][4] + headers[shstrndx][5]]
    return e_machine, data[5], {strtab[h[0]:strtab.index(b"\0", h[0])].decode() for h in headers}


@pytest.mark.parametrize("arch", ["x86", "arm64"])
def test_every_object_built_for_every_arch(arch):
    for name in OBJECTS:
        path = bpf.BUILD_DIR / arch / f"{name}.bpf.o"
        require(path.is_file(), f"{path} not built (make -C bpf)")
        machine, order, sections = elf(path)
        assert (machine, order) == (EM_BPF, ELFDATA2LSB), path
        assert {".BTF", ".BTF.ext"} <= sections, (path, sections)  # types, and CO-RE/line info


def test_arm64_objects_load_and_relocate_here():
    """The arm64 objects are plain CO-RE eBPF: libbpf relocates and the kernel verifies them here
    as on an arm64 switch (the drop probe's sk_buff -> net_device -> netns reads included)."""
    require_root()
    for name in OBJECTS:
        path = bpf.BUILD_DIR / "arm64" / f"{name}.bpf.o"
        require(path.is_file(), f"{path} not built (make -C bpf)")
        with BpfObject(str(path)):
            pass


@pytest.mark.parametrize("machine, arch", [("x86_64", "x86"), ("aarch64", "arm64")])
def test_object_path_follows_the_machine(monkeypatch, machine, arch):
    monkeypatch.delenv(bpf.OBJECT_DIR_ENV, raising=False)
    monkeypatch.setattr(bpf.platform, "machine", lambda: machine)
    assert bpf.object_path("port_probe.bpf.o") == bpf.BUILD_DIR / arch / "port_probe.bpf.o"
    monkeypatch.setenv(bpf.OBJECT_DIR_ENV, "/opt/objects")
    assert bpf.object_path("port_probe.bpf.o") == Path("/opt/objects/port_probe.bpf.o")


def test_make_builds_one_arch_and_refuses_an_unknown_one(tmp_path):
    require(shutil.which("clang") is not None, "needs clang")
    for p in list((REPO / "bpf").glob("*.[ch]")) + [REPO / "bpf" / "Makefile"]:
        shutil.copy(p, tmp_path)
    subprocess.run(["make", "-s", "-C", str(tmp_path), "ARCH=arm64"], check=True)
    assert sorted(p.name for p in (tmp_path / "build").iterdir()) == ["arm64"]
    assert sorted(p.name for p in (tmp_path / "build" / "arm64").iterdir()) == [f"{n}.bpf.o" for n in OBJECTS]
    refused = subprocess.run(["make", "-C", str(tmp_path), "ARCH=mips"], capture_output=True, text=True)
    assert refused.returncode != 0 and "one of x86 arm64" in refused.stderr
