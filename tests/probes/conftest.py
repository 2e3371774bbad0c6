"""Port-probe fixtures: a probed veth end in one namespace, frames sent from either side.

The test process itself enters the namespaces (setns on this thread) to attach probes and
to open AF_PACKET sockets; every probe instance gets its own bpffs pin directory.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.conftest import require, require_root

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def netns(name: str):
    """Run the block in network namespace `name` (this thread only), then come back."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
        yield
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(target)
        os.close(home)


def send_frames(ns: str, ifname: str, frames) -> None:
    """Send raw Ethernet frames out of `ifname` in `ns` with an AF_PACKET socket."""
    with netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    with sock:
        sock.bind((ifname, 0))
        for frame in frames:
            sock.send(frame)


def quiet_links(*pairs) -> None:
    """No IPv6 autoconfiguration (ND, MLD) on test links: nothing moves unless a test sends it."""
    for ns, dev in pairs:
        subprocess.run(["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"],
                       check=True)


@pytest.fixture
def pin_dir():
    require_root()
    require(os.path.ismount("/sys/fs/bpf"), "needs bpffs at /sys/fs/bpf")
    path = Path("/sys/fs/bpf") / f"telegen-test-{uuid.uuid4().hex[:8]}"
    yield str(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def probe_object():
    from sonic_agent.bpf import object_path
    path = object_path("port_probe.bpf.o")
    require(path.is_file(), f"{path} not built (make -C bpf)")
    return path


@pytest.fixture
def probed_pair(netns_pair, pin_dir, probe_object):
    """(ns_a, 'veth-a', ns_b, 'veth-b', pin_dir) with IPv6 off on both ends."""
    ns_a, dev_a, ns_b, dev_b = netns_pair
    quiet_links((ns_a, dev_a), (ns_b, dev_b))
    return ns_a, dev_a, ns_b, dev_b, pin_dir
