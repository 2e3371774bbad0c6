"""A job's capture: the mirrored frames of its stream and ports, bounded, as pcap or JSON.

Each frame is kept to the snap length (the mirror source cuts it); frames stop being kept once
the job's byte bound (`jobs.capture_bytes`, pcap record headers included) is reached, and the
rest are counted (`dropped`). The pcap is Ethernet, microsecond timestamps; each record's
original length is the mirrored frame's length in the copy. Under a privacy policy
(`jobs.privacy`) each frame is kept as the policy's `frame` gives it (addresses anonymised,
what cannot be anonymised cut away: privacy.frames) or not at all (`excluded`); the raw frame
is never stored.
"""
from __future__ import annotations

import struct
import threading
from typing import Callable, List, Optional, Tuple

from ..mirror.capture import CapturedFrame

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)  # LINKTYPE_ETHERNET
RECORD_HEADER = 16


class JobCapture:
    def __init__(self, max_bytes: int, snap_len: int, redact: Optional[Callable[[bytes], Optional[bytes]]] = None):
        self.max_bytes, self.snap_len, self._redact = max_bytes, snap_len, redact
        self._lock = threading.Lock()
        self._frames: List[Tuple[float, int, bytes, str]] = []  # (time, original length, data, direction)
        self.bytes = len(PCAP_HEADER)
        self.dropped = 0
        self.excluded = 0  # frames the policy excludes
        self.cut = 0  # frames the policy kept only part of
        self.redact_errors = 0  # frames the policy failed on (not kept; none seen in fuzzing)

    def add(self, frame: CapturedFrame) -> None:
        data = frame.data[:self.snap_len]
        if self.bytes + RECORD_HEADER + len(data) > self.max_bytes:  # full: not worth redacting
            with self._lock:
                self.dropped += 1
            return
        if self._redact is not None:
            try:
                kept = self._redact(data)
            except Exception:  # noqa: BLE001 (a hostile frame must never stop the mirror source: not kept)
                with self._lock:
                    self.redact_errors += 1
                return
            with self._lock:
                self.excluded += kept is None
                self.cut += kept is not None and len(kept) < len(data)
            if kept is None:
                return
            data = kept
        with self._lock:
            if self.bytes + RECORD_HEADER + len(data) > self.max_bytes:
                self.dropped += 1
                return
            self.bytes += RECORD_HEADER + len(data)
            self._frames.append((frame.timestamp, max(frame.frame_len, len(data)), data, frame.direction or ""))

    def pcap(self) -> bytes:
        with self._lock:
            frames = list(self._frames)
        out = [PCAP_HEADER]
        for ts, length, data, _ in frames:
            seconds = int(ts)
            out.append(struct.pack("<IIII", seconds, int((ts - seconds) * 1e6), len(data), length))
            out.append(data)
        return b"".join(out)

    def packets(self) -> List[dict]:
        """`pcaplike` results: one object per kept frame."""
        with self._lock:
            frames = list(self._frames)
        return [{"time": ts, "length": length, "captured": len(data),
                 "direction": {"rx": "ingress", "tx": "egress"}.get(direction), "data": data.hex()}
                for ts, length, data, direction in frames]

    def stats(self) -> dict:
        with self._lock:
            return {"frames": len(self._frames), "bytes": self.bytes, "dropped": self.dropped,
                    "excluded": self.excluded, "cut": self.cut, "redact_errors": self.redact_errors, "max_bytes": self.max_bytes, "snap_len": self.snap_len}
