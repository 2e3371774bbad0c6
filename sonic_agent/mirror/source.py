"""The agent's userspace mirror source (mirror.mode = afpacket): a TPACKET_V3 ring on the
collector interface feeding the erspan library's `MirrorCollector` from one thread.

The pipeline reads it at export time: top-K flow records, session records (both through the
MIRROR_SESSION `lookup` hook), malformed counts by reason, and the source's own counters.
"""
from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional

from erspan import MirrorCollector
from erspan.afpacket import PacketRing

from ..config import MirrorConfig
from ..records import FlowRecord, MirrorSessionStats
from .records import SessionLookup, flow_records, no_match, session_stats

log = logging.getLogger("telegen.mirror")


class AfPacketMirrorSource:
    def __init__(self, cfg: MirrorConfig):
        if not cfg.interface:
            raise ValueError("mirror.interface is required for the afpacket mirror source")
        self.cfg = cfg
        self.collector = MirrorCollector(max_flows=cfg.max_flows, vendor_header_len=cfg.vendor_header_len)
        self._ring: Optional[PacketRing] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> None:
        self._ring = PacketRing(self.cfg.interface, block_size=self.cfg.ring_block_kb * 1024,
                                block_count=self.cfg.ring_blocks)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mirror-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        if self._ring:
            self._ring.close()
            self._ring = None

    def _run(self) -> None:
        try:
            for frames in self._ring.batches(self._stop):
                self.collector.add_frames(frames)
        except OSError:
            log.exception("mirror capture on %s stopped", self.cfg.interface)

    def flow_records(self, lookup: SessionLookup = no_match) -> List[FlowRecord]:
        return flow_records(self.collector.top_flows(self.cfg.top_flows), lookup)

    def session_records(self, lookup: SessionLookup = no_match) -> List[MirrorSessionStats]:
        return session_stats(self.collector.sessions(), lookup)

    def malformed(self) -> Dict[str, int]:
        return self.collector.stats()["malformed"]

    def agent_counters(self) -> Dict[str, float]:
        stats = self.collector.stats()
        ring = self._ring.stats() if self._ring else {"packets": 0, "drops": 0}
        return {"mirror_frames_total": float(stats["frames"]),
                "mirror_flow_packets_total": float(stats["flow_packets"]),
                "mirror_flows": float(stats["flows"]),
                "mirror_flow_evictions_total": float(stats["flow_evictions"]),
                "mirror_capture_drops_total": float(ring["drops"]),
                "mirror_capture_running": float(bool(self._thread and self._thread.is_alive()))}
