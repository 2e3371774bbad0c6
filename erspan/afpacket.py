"""Live capture through an AF_PACKET TPACKET_V3 ring: each filled block becomes one `Frames` batch.

The kernel fills fixed-size blocks with frames and hands a block over when it is full or
its timeout expires; the reader copies the block out (so the decoder's padding rule holds),
walks the block's frame headers, and returns the block to the kernel at once. Drops are
read from PACKET_STATISTICS. Needs CAP_NET_RAW. Receive VLAN offload moves a frame's outer
802.1Q tag into metadata: that tag is not in the bytes (turn rx-vlan-offload off for SPAN).
"""
from __future__ import annotations

import mmap
import os
import select
import socket
import struct
import threading
from typing import Dict, Iterator, Optional

import numpy as np

from .frames import LINKTYPE_ETHERNET, PAD, Frames

SOL_PACKET, PACKET_RX_RING, PACKET_STATISTICS, PACKET_VERSION = 263, 5, 6, 10
TPACKET_V3, TP_STATUS_KERNEL, TP_STATUS_USER = 2, 0, 1
ETH_P_ALL = 0x0003
BLOCK_STATUS, BLOCK_PACKETS, BLOCK_FIRST = 8, 12, 16  # offsets in struct tpacket_block_desc
TPACKET3_HDR = struct.Struct("<IIIIIIHH")  # next, sec, nsec, snaplen, len, status, mac, net


class PacketRing:
    """A TPACKET_V3 receive ring on one interface."""

    def __init__(self, interface: str, block_size: int = 1 << 20, block_count: int = 64,
                 frame_size: int = 2048, block_timeout_ms: int = 50):
        self.block_size, self.block_count = block_size, block_count
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            self._sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
            request = struct.pack("7I", block_size, block_count, frame_size,
                                  block_size * block_count // frame_size, block_timeout_ms, 0, 0)
            self._sock.setsockopt(SOL_PACKET, PACKET_RX_RING, request)
            self._sock.bind((interface, ETH_P_ALL))
            self._ring = mmap.mmap(self._sock.fileno(), block_size * block_count, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            self._sock.close()
            raise
        self._next = 0
        self._counters = {"packets": 0, "drops": 0, "freezes": 0}

    def read(self, timeout: float) -> Optional[Frames]:
        """The next filled block as a batch, or None if none filled within `timeout` seconds;
        OSError (ENETDOWN) once the interface has gone down or been removed."""
        base = self._next * self.block_size
        if not self._ready(base):
            poller = select.poll()
            poller.register(self._sock, select.POLLIN | select.POLLERR)
            if any(events & select.POLLERR for _, events in poller.poll(int(timeout * 1000))):
                self._raise_socket_error()
            if not self._ready(base):
                return None
        try:
            return self._frames(base)
        finally:
            struct.pack_into("<I", self._ring, base + BLOCK_STATUS, TP_STATUS_KERNEL)
            self._next = (self._next + 1) % self.block_count

    def batches(self, stop: threading.Event, timeout: float = 0.2) -> Iterator[Frames]:
        """Batches until `stop` is set (checked at least every `timeout` seconds)."""
        while not stop.is_set():
            frames = self.read(timeout)
            if frames is not None and len(frames):
                yield frames

    def stats(self) -> Dict[str, int]:
        """Kernel counters since the ring opened: packets seen, dropped, queue freezes."""
        packets, drops, freezes = struct.unpack("3I", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12))
        for key, value in zip(("packets", "drops", "freezes"), (packets, drops, freezes)):
            self._counters[key] += value  # the kernel resets them on every read
        return dict(self._counters)

    def close(self) -> None:
        self._ring.close()
        self._sock.close()

    def __enter__(self) -> "PacketRing":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _raise_socket_error(self) -> None:
        """The interface went down or away (ENETDOWN): the kernel has unhooked this socket and
        does not re-hook it for a re-created device, so the owner must reopen the ring."""
        err = self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            raise OSError(err, os.strerror(err))

    def _ready(self, base: int) -> bool:
        return bool(struct.unpack_from("<I", self._ring, base + BLOCK_STATUS)[0] & TP_STATUS_USER)

    def _frames(self, base: int) -> Frames:
        count, first = struct.unpack_from("<II", self._ring, base + BLOCK_PACKETS)
        data = np.zeros(self.block_size + PAD, dtype=np.uint8)
        data[:self.block_size] = np.frombuffer(self._ring, np.uint8, self.block_size, base)
        headers, off = [], first
        for _ in range(count):
            header = TPACKET3_HDR.unpack_from(self._ring, base + off)
            headers.append(header[1:5] + (off + header[6],))
            off += header[0]
        h = np.array(headers, dtype=np.int64).reshape(-1, 5)
        return Frames(data, h[:, 4], h[:, 2], np.maximum(h[:, 3], h[:, 2]), h[:, 0] + h[:, 1] * 1e-9,
                      np.full(len(h), LINKTYPE_ETHERNET, dtype=np.int64))
