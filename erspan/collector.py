"""The entry point for files and live capture: frames in, flows and session stats out.

`MirrorCollector` accepts batches however they arrive (a capture file's `Frames`, a list of
byte strings, or one contiguous buffer with lengths, as an AF_PACKET ring block gives) and
runs the one decoder on them. Decoding happens outside the lock; the tables are updated and
read under it, so a capture thread and an exporter can share one collector. `read` takes the
top flows, the sessions and the counters in one pass under the lock: what an exporter takes.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from .capture import CaptureReader
from .decoder import Decoded, DecoderConfig, decode
from .flows import Flow, FlowTable
from .frames import LINKTYPE_ETHERNET, Frames, frames_from_buffer, frames_from_list
from .reasons import count_reasons
from .sessions import Session, SessionTable
from .streams import Stream
from .tunnel import DEFAULT_VENDOR_HEADER_LEN


@dataclass
class Reading:
    """One read of a collector: its top flows (every flow when no k was given), every session,
    the counters (as `MirrorCollector.stats`), and the top flows of the watched streams."""

    flows: List[Flow]
    sessions: List[Session]
    stats: dict
    watched: List[Flow] = field(default_factory=list)


class MirrorCollector:
    def __init__(self, max_flows: int = 65536, max_sessions: int = 4096,
                 vendor_header_len: int = DEFAULT_VENDOR_HEADER_LEN, span: bool = False):
        self.config = DecoderConfig(vendor_header_len=vendor_header_len, span=span)
        self.flow_table = FlowTable(max_flows)
        self.session_table = SessionTable(max_sessions)
        self._lock = threading.Lock()
        self._frames = 0
        self._flow_packets = 0
        self._malformed: Dict[str, int] = {}
        self._skipped: Dict[str, int] = {}

    def add_frames(self, frames: Frames) -> Decoded:
        decoded = decode(frames, self.config)
        malformed, skipped = count_reasons(decoded.reason)
        with self._lock:
            self.flow_table.add(decoded)
            self.session_table.add(decoded)
            self._frames += len(frames)
            self._flow_packets += len(frames) - sum(malformed.values()) - sum(skipped.values())
            _merge(self._malformed, malformed)
            _merge(self._skipped, skipped)
        return decoded

    def add_packets(self, packets: Sequence[bytes], timestamps: Optional[Sequence[float]] = None,
                    linktype: int = LINKTYPE_ETHERNET) -> Decoded:
        """A list of frames, one byte string each."""
        return self.add_frames(frames_from_list(packets, timestamps, linktype))

    def add_buffer(self, buffer, lengths: Sequence[int], timestamps: Optional[Sequence[float]] = None,
                   wirelens: Optional[Sequence[int]] = None, linktype: int = LINKTYPE_ETHERNET) -> Decoded:
        """Frames laid end to end in one buffer, `lengths[i]` bytes each."""
        return self.add_frames(frames_from_buffer(buffer, lengths, timestamps, wirelens, linktype))

    def note_damage(self, counts: Dict[str, int]) -> None:
        """Count capture-level damage (a truncated file) with the malformed frames."""
        with self._lock:
            _merge(self._malformed, counts)

    def flows(self) -> List[Flow]:
        with self._lock:
            return self.flow_table.flows()

    def top_flows(self, k: int, by: str = "bytes") -> List[Flow]:
        with self._lock:
            return self.flow_table.top(k, by)

    def sessions(self) -> List[Session]:
        with self._lock:
            return self.session_table.sessions()

    def stats(self) -> dict:
        with self._lock:
            return self._stats()

    def read(self, top: Optional[int] = None, by: str = "bytes", watch: Iterable[Stream] = (),
             watch_limit: int = 0) -> Reading:
        """The `top` largest flows by bytes or packets (all of them when None), the sessions,
        the counters, and the `watch_limit` largest flows of the `watch` streams, from one
        consistent state of the tables."""
        with self._lock:
            flows = self.flow_table.flows() if top is None else self.flow_table.top(top, by)
            watched = self.flow_table.of_streams(watch, watch_limit, by) if watch and watch_limit else []
            return Reading(flows, self.session_table.sessions(), self._stats(), watched)

    def _stats(self) -> dict:
        return {"frames": self._frames, "flow_packets": self._flow_packets,
                "malformed": dict(self._malformed), "skipped": dict(self._skipped),
                "flows": len(self.flow_table), "flow_evictions": self.flow_table.evictions,
                "sessions": len(self.session_table), "session_evictions": self.session_table.evictions}


def decode_capture(path, span: Optional[bool] = None, max_flows: int = 65536,
                   vendor_header_len: int = DEFAULT_VENDOR_HEADER_LEN) -> MirrorCollector:
    """Decode a pcap/pcapng file. With span=None, a file with no mirror stream in it at all is
    read again as a SPAN capture (its frames are the mirrored packets themselves)."""
    collector = MirrorCollector(max_flows=max_flows, vendor_header_len=vendor_header_len,
                                span=bool(span))
    reader = CaptureReader(Path(path))
    for frames in reader:
        collector.add_frames(frames)
    collector.note_damage(reader.damage)
    if span is None and collector.stats()["frames"] and not len(collector.session_table):
        return decode_capture(path, True, max_flows, vendor_header_len)
    return collector


def _merge(into: Dict[str, int], counts: Dict[str, int]) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value
