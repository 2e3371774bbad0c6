"""pcap and pcapng files as batches of `Frames`, without any packet library.

The file is memory-mapped; only the record (block) headers are walked in Python, everything
per frame after that is numpy over the batch. A damaged tail (a record running past the end
of the file, an impossible length) ends the walk and is counted in `CaptureReader.damage`.
"""
from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

import numpy as np

from .frames import LINKTYPE_ETHERNET, PAD, Frames

PCAP_MAGIC = {  # first four bytes -> (byte order, timestamp fraction units per second)
    b"\xd4\xc3\xb2\xa1": ("<", 1e6), b"\xa1\xb2\xc3\xd4": (">", 1e6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e9), b"\xa1\xb2\x3c\x4d": (">", 1e9),
}
PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
MAX_RECORD = 1 << 20  # larger than any snapshot length: beyond it the file is corrupt
BLOCK_IDB, BLOCK_PB, BLOCK_SPB, BLOCK_EPB, BLOCK_SHB = 1, 2, 3, 6, 0x0A0D0D0A


class CaptureError(ValueError):
    """The file is not a pcap or pcapng capture at all."""


class CaptureReader:
    """Iterate a capture file as `Frames` batches of at most `batch_size` frames."""

    def __init__(self, path, batch_size: int = 65536):
        self.path = Path(path)
        self.batch_size = batch_size
        self.damage: Dict[str, int] = {}
        with open(self.path, "rb") as fh:
            head = fh.read(4)
            if len(head) < 4:
                raise CaptureError(f"{self.path}: too short to be a capture file")
            if head not in PCAP_MAGIC and head != PCAPNG_SHB:
                raise CaptureError(f"{self.path}: not a pcap or pcapng file (magic {head.hex()})")
            self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        self._data = np.frombuffer(self._map, dtype=np.uint8)

    def __iter__(self) -> Iterator[Frames]:
        if bytes(self._map[:4]) == PCAPNG_SHB:
            return self._pcapng()
        return self._pcap()

    def _note(self, what: str) -> None:
        self.damage[what] = self.damage.get(what, 0) + 1

    def _pcap(self) -> Iterator[Frames]:
        buf, size = self._map, len(self._map)
        if size < 24:
            self._note("capture_truncated")
            return
        order, units = PCAP_MAGIC[bytes(buf[:4])]
        linktype = struct.unpack_from(order + "I", buf, 20)[0] & 0x0FFFFFFF
        caplen_at, off = struct.Struct(order + "I").unpack_from, 24
        while off < size:
            offsets: List[int] = []
            append = offsets.append
            for _ in range(self.batch_size):
                if off + 16 > size:
                    break
                caplen = caplen_at(buf, off + 8)[0]
                following = off + 16 + caplen
                if following > size or caplen > MAX_RECORD:
                    self._note("capture_truncated" if caplen <= MAX_RECORD else "capture_corrupt")
                    off = size
                    break
                append(off)
                off = following
            if off + 16 > size and off < size:
                self._note("capture_truncated")
                off = size
            if offsets:
                rec = np.asarray(offsets, dtype=np.int64)
                head = self._data[rec[:, None] + np.arange(16)].view(order + "u4").astype(np.int64)
                ts = head[:, 0] + head[:, 1] / units
                yield self._batch(rec + 16, head[:, 2], head[:, 3], ts, np.full(len(rec), linktype))

    def _pcapng(self) -> Iterator[Frames]:
        buf, size, off = self._map, len(self._map), 0
        order, links, clocks = "<", [], []  # per interface of the current section
        cols: List[list] = [[], [], [], [], [], []]  # start, caplen, wirelen, ts raw, iface, section
        while off + 12 <= size:
            btype = struct.unpack_from(order + "I", buf, off)[0]
            if btype == BLOCK_SHB:
                order = "<" if bytes(buf[off + 8:off + 12]) == b"\x4d\x3c\x2b\x1a" else ">"
                links, clocks = [], []
            blen = struct.unpack_from(order + "I", buf, off + 4)[0]
            if blen < 12 or blen % 4 or blen > MAX_RECORD + 64 or off + blen > size:
                self._note("capture_truncated" if off + blen > size else "capture_corrupt")
                break
            if btype == BLOCK_IDB and blen >= 20:
                links.append(struct.unpack_from(order + "H", buf, off + 8)[0])
                clocks.append(_interface_clock(buf, order, off + 16, off + blen - 4))
            elif btype in (BLOCK_EPB, BLOCK_PB) and blen >= 32:
                if btype == BLOCK_EPB:
                    iface, hi, lo, cap, wire = struct.unpack_from(order + "5I", buf, off + 8)
                else:
                    iface, _, hi, lo, cap, wire = struct.unpack_from(order + "HH4I", buf, off + 8)
                self._frame(cols, links, clocks, off + 28, min(cap, blen - 32), wire, (hi << 32) | lo, iface)
            elif btype == BLOCK_SPB and blen >= 16:
                wire = struct.unpack_from(order + "I", buf, off + 8)[0]
                self._frame(cols, links, clocks, off + 12, min(wire, blen - 16), wire, 0, 0)
            off += blen
            if len(cols[0]) >= self.batch_size:
                yield self._pcapng_batch(cols)
                cols = [[], [], [], [], [], []]
        if 0 < size - off < 12:
            self._note("capture_truncated")
        if cols[0]:
            yield self._pcapng_batch(cols)

    def _frame(self, cols, links, clocks, start, cap, wire, ts, iface) -> None:
        if iface >= len(links):
            self._note("capture_unknown_interface")
            return
        units, offset = clocks[iface]
        for col, value in zip(cols, (start, cap, wire, ts / units + offset, links[iface])):
            col.append(value)

    def _pcapng_batch(self, cols) -> Frames:
        start, cap, wire, ts, link = (np.asarray(c) for c in cols[:5])
        return self._batch(start.astype(np.int64), cap.astype(np.int64), wire.astype(np.int64),
                           ts.astype(np.float64), link.astype(np.int64))

    def _batch(self, start, caplen, wirelen, ts, linktype) -> Frames:
        """A batch over the mapped file; the file's last bytes are copied to get the padding."""
        data, end = self._data, int(start[-1] + caplen[-1])
        if end + PAD > len(data):
            lo = int(start[0])
            data = np.zeros(end - lo + PAD, dtype=np.uint8)
            data[:end - lo] = self._data[lo:end]
            start = start - lo
        return Frames(data, start, caplen, np.maximum(wirelen, caplen), ts, linktype)


def _interface_clock(buf, order: str, off: int, end: int) -> Tuple[float, int]:
    """(timestamp units per second, seconds to add) from an IDB's options: if_tsresol (code 9,
    default 10^6) and if_tsoffset (code 14, default 0)."""
    units, offset = 1e6, 0
    while off + 4 <= end:
        code, length = struct.unpack_from(order + "HH", buf, off)
        if code == 0:
            break
        if code == 9 and length >= 1:
            value = buf[off + 4]
            units = float(2 ** (value & 0x7F)) if value & 0x80 else float(10 ** value)
        elif code == 14 and length >= 8:
            offset = struct.unpack_from(order + "q", buf, off + 4)[0]
        off += 4 + ((length + 3) & ~3)
    return units, offset


def write_pcap(path, frames: Iterable[bytes], timestamps: Optional[Iterable[float]] = None,
               linktype: int = LINKTYPE_ETHERNET) -> int:
    """Write frames as a microsecond pcap (for generated traffic and samples); returns the count."""
    count = 0
    stamps = iter(timestamps) if timestamps is not None else None
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, MAX_RECORD, linktype))
        for frame in frames:
            ts = next(stamps) if stamps is not None else float(count)
            seconds = int(ts)
            fh.write(struct.pack("<IIII", seconds, int(round((ts - seconds) * 1e6)), len(frame), len(frame)))
            fh.write(frame)
            count += 1
    return count
