"""A veth pair in the root namespace, and a sender process writing frames to one end."""
from __future__ import annotations

import subprocess
import sys
import uuid

import pytest

from tests.conftest import require_root

SENDER = """
import socket, sys
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((sys.argv[1], 0))
frames = [bytes.fromhex(line) for line in sys.stdin.read().split()]
count = int(sys.argv[2])
for i in range(count):
    sock.send(frames[i % len(frames)])
"""


@pytest.fixture
def veth():
    require_root()
    tag = uuid.uuid4().hex[:6]
    a, b = f"tgm{tag}a", f"tgm{tag}b"
    subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
    try:
        for dev in (a, b):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1"], check=True)
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        yield a, b
    finally:
        subprocess.run(["ip", "link", "del", a], check=False)


def send(interface: str, frames, count: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SENDER, interface, str(count)], stdin=subprocess.PIPE, text=True)
    proc.stdin.write("\n".join(f.hex() for f in frames))
    proc.stdin.close()
    return proc
