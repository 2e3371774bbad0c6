"""Frames on a real veth: an AF_PACKET capture in a namespace, and the decoder attached there."""
from __future__ import annotations

import contextlib
import socket
import struct

from tests.probes.conftest import netns

ETH_P_ALL = 0x0003
SO_RCVBUFFORCE = 33
SOL_PACKET, PACKET_STATISTICS, PACKET_OUTGOING = 263, 6, 4


class Capture:
    """Every frame arriving on `ifname` in `ns` after XDP (what the stack, and tcpdump, see), or
    with `outgoing` every frame sent there."""

    def __init__(self, ns: str, ifname: str, buffer: int = 256 << 20, outgoing: bool = False):
        self.outgoing = outgoing
        with netns(ns):
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, buffer)
        self.sock.bind((ifname, 0))
        self.sock.setblocking(False)

    def drain(self):
        """(incoming frames, frames the socket dropped) since the last call."""
        frames = []
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            if (addr[2] == PACKET_OUTGOING) == self.outgoing:
                frames.append(data)
        _, drops = struct.unpack("II", self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        return frames, drops

    def close(self) -> None:
        self.sock.close()


@contextlib.contextmanager
def attached(decoder, ns: str, ifname: str):
    """The decoder on `ifname` in `ns` for the block; detached (in that namespace) after."""
    with netns(ns):
        decoder.attach(ifname)
    try:
        yield decoder
    finally:
        with netns(ns):
            decoder.detach()
