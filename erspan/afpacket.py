"""Live capture through an AF_PACKET TPACKET_V2 ring, read as numpy batches.

The ring is an array of fixed-size slots, each with its own header and status word, so a
read is array work with no per-frame Python: the statuses of every slot from the read
position on are read at once, the run of slots the kernel has handed over is copied out in
one gather (only as wide as the batch's largest frame, so the decoder's padding rule holds),
and the run is given back by one store over its status words. (TPACKET_V3 packs frames more
tightly, but its frames are a linked list that can only be walked frame by frame.) Slots are
sized from the interface MTU, so no frame the interface can receive is cut; GRO can merge
GRE 0x6558/0x0800 streams (not ERSPAN) past the MTU, so turn it off on the collector interface
(`ethtool -K IF gro off`) or such merged frames are cut and count as truncated. The kernel
moves a received frame's outer 802.1Q/802.1ad tag into metadata; the ring puts it back in the
bytes, so SPAN frames keep their VLAN. Drops are read from PACKET_STATISTICS (the packet count
includes them). Needs CAP_NET_RAW.
"""
from __future__ import annotations

import fcntl
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
TPACKET_V2, TP_STATUS_KERNEL, TP_STATUS_USER = 1, 0, 1
TP_STATUS_VLAN_VALID, TP_STATUS_VLAN_TPID_VALID = 0x10, 0x40
ETH_P_8021Q = 0x8100
ETH_P_ALL = 0x0003
SIOCGIFMTU = 0x8921
# struct tpacket2_hdr; the frame starts at `mac` bytes into its slot
SLOT_HEADER = np.dtype({"names": ["status", "len", "snaplen", "mac", "sec", "nsec", "vlan_tci", "vlan_tpid"],
                        "formats": ["<u4", "<u4", "<u4", "<u2", "<u4", "<u4", "<u2", "<u2"],
                        "offsets": [0, 4, 8, 12, 16, 20, 24, 26], "itemsize": 32})
# a slot's bytes before the network header: header + sockaddr_ll + Ethernet header, aligned
# (TPACKET_ALIGN, 16); the frame itself starts 14 bytes earlier, at `mac`
SLOT_FRAME_OFFSET = 80
FRAME_OVERHEAD = 14 + 2 * 4  # Ethernet header and two VLAN tags on top of the MTU
MAX_BATCH = 8192  # slots looked at and taken per read: bounds the work of one read


def slot_size(mtu: int) -> int:
    """Bytes per ring slot: room for the largest frame an interface of this MTU receives."""
    return (SLOT_FRAME_OFFSET + mtu + FRAME_OVERHEAD + 15) // 16 * 16


class PacketRing:
    """A TPACKET_V2 receive ring on one interface: `block_count` blocks of `block_size`
    bytes (the memory it keeps), each cut into slots of `slot_size(interface MTU)` bytes."""

    def __init__(self, interface: str, block_size: int = 1 << 20, block_count: int = 64):
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            ifreq = fcntl.ioctl(self._sock, SIOCGIFMTU, struct.pack("16si20x", interface.encode(), 0))  # ifreq
            frame_size = slot_size(struct.unpack_from("i", ifreq, 16)[0])
            block_size = -(-max(block_size, frame_size) // mmap.PAGESIZE) * mmap.PAGESIZE
            per_block = block_size // frame_size
            self._sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V2)
            self._sock.setsockopt(SOL_PACKET, PACKET_RX_RING,
                                  struct.pack("4I", block_size, block_count, frame_size, per_block * block_count))
            self._sock.bind((interface, ETH_P_ALL))
            self._ring = mmap.mmap(self._sock.fileno(), block_size * block_count, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE)
        except OSError:
            self._sock.close()
            raise
        self.slots = per_block * block_count
        # views of the ring by (block, slot in block): headers, and the bytes of each slot
        self._headers = np.ndarray((block_count, per_block), SLOT_HEADER, self._ring, 0, (block_size, frame_size))
        self._slot_bytes = np.ndarray((block_count, per_block, frame_size), np.uint8, self._ring, 0,
                                      (block_size, frame_size, 1))
        self._where = np.divmod(np.arange(self.slots), per_block)  # slot number -> (block, slot in block)
        self._next = 0
        self._counters = {"packets": 0, "drops": 0}

    def read(self, timeout: float) -> Optional[Frames]:
        """The frames handed over since the last read, or None if none came within `timeout`
        seconds; OSError (ENETDOWN) once the interface has gone down or been removed."""
        if not self._ready():
            poller = select.poll()
            poller.register(self._sock, select.POLLIN | select.POLLERR)
            if any(events & select.POLLERR for _, events in poller.poll(int(timeout * 1000))):
                self._raise_socket_error()
            if not self._ready():
                return None
        return self._take()

    def batches(self, stop: threading.Event, timeout: float = 0.2) -> Iterator[Frames]:
        """Batches until `stop` is set (checked at least every `timeout` seconds)."""
        while not stop.is_set():
            frames = self.read(timeout)
            if frames is not None and len(frames):
                yield frames

    def stats(self) -> Dict[str, int]:
        """Kernel counters since the ring opened: packets seen and dropped."""
        packets, drops = struct.unpack("2I", self._sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
        self._counters["packets"] += packets  # the kernel resets them on every read
        self._counters["drops"] += drops
        return dict(self._counters)

    def close(self) -> None:
        # the views must go before the mapping can close
        self._headers = self._slot_bytes = None
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

    def _ready(self) -> bool:
        block, index = self._where[0][self._next], self._where[1][self._next]
        return bool(self._headers["status"][block, index] & TP_STATUS_USER)

    def _take(self) -> Frames:
        """The handed-over slots from the read position on (at most MAX_BATCH), copied out and
        given back."""
        order = (self._next + np.arange(min(self.slots, MAX_BATCH))) % self.slots
        block, index = self._where[0][order], self._where[1][order]
        user = (self._headers["status"][block, index] & TP_STATUS_USER) != 0
        count = len(user) if user.all() else int(np.argmin(user))
        block, index = block[:count], index[:count]
        head = self._headers[block, index]
        mac, caplen = head["mac"].astype(np.int64), head["snaplen"].astype(np.int64)
        rows = self._slot_bytes[block, index, :int((mac + caplen).max())]  # a copy
        self._headers["status"][block, index] = TP_STATUS_KERNEL
        self._next = (self._next + count) % self.slots
        wirelen = np.maximum(head["len"].astype(np.int64), caplen)
        tagged = (head["status"] & TP_STATUS_VLAN_VALID) != 0
        if tagged.any():
            rows = restore_vlan_tags(rows, head, tagged, mac)
            caplen, wirelen = caplen + 4 * tagged, wirelen + 4 * tagged
        width = rows.shape[1]
        data = np.zeros(count * width + PAD, dtype=np.uint8)
        data[:count * width] = rows.reshape(-1)
        return Frames(data, np.arange(count, dtype=np.int64) * width + mac, caplen, wirelen,
                      head["sec"] + head["nsec"] * 1e-9, np.full(count, LINKTYPE_ETHERNET, dtype=np.int64))


def restore_vlan_tags(rows: np.ndarray, head: np.ndarray, tagged: np.ndarray, mac: np.ndarray) -> np.ndarray:
    """Rows 4 bytes wider, the tagged frames' 802.1Q/802.1ad tag (kept by the kernel in the
    slot header) back after their MAC addresses; the other rows unchanged."""
    out = np.zeros((len(rows), rows.shape[1] + 4), dtype=np.uint8)
    out[~tagged, :rows.shape[1]] = rows[~tagged]
    tpid = np.where(head["status"] & TP_STATUS_VLAN_TPID_VALID, head["vlan_tpid"], ETH_P_8021Q)
    tci = head["vlan_tci"]
    tag = np.stack([tpid >> 8, tpid & 0xFF, tci >> 8, tci & 0xFF], axis=1).astype(np.uint8)
    for offset in np.unique(mac[tagged]):  # the frame offset is one per socket in practice
        picked, cut = tagged & (mac == offset), int(offset) + 12
        out[picked, :cut] = rows[picked, :cut]
        out[picked, cut:cut + 4] = tag[picked]
        out[picked, cut + 4:] = rows[picked, cut:]
    return out
