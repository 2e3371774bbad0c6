"""A batch of raw frames in one byte buffer, and vectorised big-endian field reads on it.

Every decoding stage works on all frames of a batch at once: it holds an index array of the
frames still in play and, per frame, an offset into that frame. `Frames.has` says whether a
field lies inside the captured bytes; reads past a frame's end are harmless (the buffer is
padded and offsets are clamped) and their values are discarded by that check.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

PAD = 128  # zero bytes after the last frame, more than any single read reaches past an offset

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229


@dataclass
class Frames:
    """Frames i occupy data[start[i] : start[i] + caplen[i]]; wirelen is their size on the wire."""

    data: np.ndarray  # uint8, at least PAD bytes past the last frame's end
    start: np.ndarray  # int64
    caplen: np.ndarray  # int64
    wirelen: np.ndarray  # int64
    timestamp: np.ndarray  # float64 seconds
    linktype: np.ndarray  # int64 per frame (pcapng interfaces may differ)

    def __len__(self) -> int:
        return len(self.start)

    def has(self, idx: np.ndarray, off: np.ndarray, size: int) -> np.ndarray:
        """Whether `size` bytes at `off` lie inside the captured part of frames `idx`."""
        return off + size <= self.caplen[idx]

    def clamp(self, idx: np.ndarray, off: np.ndarray) -> np.ndarray:
        """Offsets no further than the end of their frame, so later reads stay in the buffer."""
        return np.minimum(off, self.caplen[idx])

    def __post_init__(self):
        # Big-endian views at every byte offset (stride 1, unaligned): one gather per field.
        self._be = {size: np.ndarray((len(self.data) - size + 1,), dtype=f">u{size}",
                                     buffer=self.data, strides=(1,)) for size in (2, 4, 8)}

    def u8(self, idx: np.ndarray, off: np.ndarray) -> np.ndarray:
        return self.data[self.start[idx] + off].astype(np.int64)

    def u16(self, idx: np.ndarray, off: np.ndarray) -> np.ndarray:
        return self._be[2][self.start[idx] + off].astype(np.int64)

    def u32(self, idx: np.ndarray, off: np.ndarray) -> np.ndarray:
        return self._be[4][self.start[idx] + off].astype(np.int64)

    def u64(self, idx: np.ndarray, off: np.ndarray) -> np.ndarray:
        return self._be[8][self.start[idx] + off]


def frames_from_buffer(buffer: Union[bytes, bytearray, memoryview, np.ndarray],
                       lengths: Sequence[int], timestamps: Optional[Sequence[float]] = None,
                       wirelens: Optional[Sequence[int]] = None,
                       linktype: int = LINKTYPE_ETHERNET) -> Frames:
    """Frames laid end to end in one contiguous buffer (an AF_PACKET block, a joined list)."""
    caplen = np.asarray(lengths, dtype=np.int64)
    start = np.zeros(len(caplen), dtype=np.int64)
    if len(caplen) > 1:
        np.cumsum(caplen[:-1], out=start[1:])
    used = int(caplen.sum())
    raw = np.frombuffer(buffer, dtype=np.uint8)
    if len(raw) < used:
        raise ValueError(f"buffer holds {len(raw)} bytes, lengths add up to {used}")
    data = np.zeros(used + PAD, dtype=np.uint8)
    data[:used] = raw[:used]
    n = len(caplen)
    ts = np.zeros(n) if timestamps is None else np.asarray(timestamps, dtype=np.float64)
    wire = caplen if wirelens is None else np.maximum(np.asarray(wirelens, dtype=np.int64), caplen)
    return Frames(data, start, caplen, wire, ts, np.full(n, linktype, dtype=np.int64))


def frames_from_list(packets: Sequence[bytes], timestamps: Optional[Sequence[float]] = None,
                     linktype: int = LINKTYPE_ETHERNET) -> Frames:
    """Frames from a list of byte strings (one per frame)."""
    return frames_from_buffer(b"".join(packets), [len(p) for p in packets], timestamps,
                              linktype=linktype)
