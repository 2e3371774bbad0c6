"""The mirror source's capture for jobs: the mirrored frames of chosen streams, cut to a snap
length, handed to a sink as `CapturedFrame`s while decoding goes on.

- XDP (`KernelCapture`): the decoder's `mirror_capture` map names the streams (at most
  `kernel.CAPTURE_STREAMS`) and the snap length; the kernel copies each decoded frame of those
  streams into the `mirror_frames` ring buffer, one thread here polls it. A full ring drops
  frames in the kernel (counted there, `dropped`); decoding is not slowed by the capture.
- AF_PACKET (`captured_frames`): the library's decode of a batch says where each mirrored
  frame starts; the frames of the chosen streams are cut from the batch.
A copy that carries a bare IP packet (ERSPAN III ft=2, GRE 0x0800/0x86DD) gets a zeroed
Ethernet header in front, so every capture is an Ethernet one.
"""
from __future__ import annotations

import ipaddress
import logging
import struct
import threading
from ctypes import sizeof
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np

from erspan import Decoded, Frames
from erspan.flows import DIRECTIONS
from erspan.streams import Stream, address

from ..bpf import BpfObject, Index, RingBuffer
from . import kernel as k

log = logging.getLogger("telegen.mirror")
POLL_MS = 100


@dataclass(frozen=True)
class CapturedFrame:
    timestamp: float  # seconds, wall clock
    stream: Stream  # (outer src, outer dst, GRE protocol)
    session_id: Optional[int]
    port_index: Optional[int]
    direction: Optional[str]  # rx | tx (ERSPAN III d bit), None when the header has none
    frame_len: int  # the mirrored frame's length in the copy
    data: bytes  # its first snap-length bytes


CaptureSink = Callable[[CapturedFrame], None]


def ethernet(data: bytes, ip_only: bool) -> bytes:
    if not ip_only:
        return data
    ethertype = 0x86DD if data[:1] and data[0] >> 4 == 6 else 0x0800
    return bytes(12) + struct.pack("!H", ethertype) + data


class KernelCapture:
    """The XDP decoder's capture; `set_streams` applies at once, for every CPU."""

    def __init__(self, obj: BpfObject, sink: CaptureSink, clock: Callable[[int], float]):
        self._config = obj.map(k.MAP_CAPTURE)
        self._config.check_layout(Index, k.CaptureConfig)
        self._sink, self._clock = sink, clock
        self._ring = RingBuffer(obj.map(k.MAP_FRAMES), self._record)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mirror-capture-ring", daemon=True)
        self._thread.start()

    def set_streams(self, streams: Sequence[Stream], snap_len: int) -> None:
        config = k.CaptureConfig.from_buffer_copy(self._config.lookup(Index(0)))  # keeps `dropped`
        streams = list(streams)[:k.CAPTURE_STREAMS]
        for i, (outer_src, outer_dst, gre_proto) in enumerate(streams):
            src, dst = ipaddress.ip_address(outer_src), ipaddress.ip_address(outer_dst)
            packed = src.packed.rjust(16, b"\0") + dst.packed.rjust(16, b"\0")
            config.stream[i] = k.CaptureStream(k.Addrs.from_buffer_copy(packed), gre_proto, src.version)
        config.streams, config.snap_len = len(streams), min(snap_len, k.CAPTURE_SNAP_MAX)
        self._config.update(Index(0), bytes(config))

    def dropped(self) -> int:
        return int(k.CaptureConfig.from_buffer_copy(self._config.lookup(Index(0))).dropped)

    def _record(self, raw: bytes) -> None:
        if len(raw) < sizeof(k.Captured):
            return
        r = k.Captured.from_buffer_copy(raw)
        outer = bytes(r.outer.src) + bytes(r.outer.dst)
        version = r.outer_version
        stream = (_address(version, outer[:16]), _address(version, outer[16:]), r.gre_proto)
        self._sink(CapturedFrame(
            self._clock(r.time_ns), stream, None if r.session_id == k.NO_ID else r.session_id,
            r.port_index if r.has_port_index else None, DIRECTIONS.get(r.direction), int(r.frame_len),
            ethernet(bytes(r.data[:min(r.cap_len, k.CAPTURE_SNAP_MAX)]), bool(r.ip_only))))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._ring.poll(POLL_MS)
            except Exception:  # a sink's failure must not end the capture
                log.exception("mirror capture: handing a frame over failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._ring.close()


def _address(version: int, raw: bytes) -> str:
    value = int.from_bytes(raw, "big")
    return address(version, value >> 64, value & (1 << 64) - 1)


def captured_frames(frames: Frames, decoded: Decoded, streams: Sequence[Stream], snap_len: int) -> List[CapturedFrame]:
    """The AF_PACKET path: the frames of a decoded batch that belong to `streams`."""
    rows = np.flatnonzero(decoded.session & (decoded.payload >= 0) & (decoded.outer_version > 0))
    out = []
    wanted = set(streams)
    for i in rows.tolist():
        version = int(decoded.outer_version[i])
        src, dst = decoded.outer_src[i], decoded.outer_dst[i]
        stream = (address(version, int(src[0]), int(src[1])), address(version, int(dst[0]), int(dst[1])),
                  int(decoded.gre_proto[i]))
        if stream not in wanted:
            continue
        start, payload = int(frames.start[i]), int(decoded.payload[i])
        length = int(frames.caplen[i]) - payload
        data = frames.data[start + payload:start + payload + min(length, snap_len)].tobytes()
        session_id, port_index, direction = (int(decoded.session_id[i]), int(decoded.port_index[i]),
                                             int(decoded.direction[i]))
        out.append(CapturedFrame(float(decoded.timestamp[i]), stream, session_id if session_id >= 0 else None,
                                 port_index if port_index >= 0 else None, DIRECTIONS.get(direction), length,
                                 ethernet(data, bool(decoded.payload_ip[i]))))
    return out
