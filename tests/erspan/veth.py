"""A sender process writing frames to one end of a veth pair (see conftest.veth)."""
from __future__ import annotations

import subprocess
import sys

SENDER = """
import socket, sys
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
sock.bind((sys.argv[1], 0))
frames = [bytes.fromhex(line) for line in sys.stdin.read().split()]
count = int(sys.argv[2])
for i in range(count):
    sock.send(frames[i % len(frames)])
"""


def send(interface: str, frames, count: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", SENDER, interface, str(count)], stdin=subprocess.PIPE, text=True)
    proc.stdin.write("\n".join(f.hex() for f in frames))
    proc.stdin.close()
    return proc
