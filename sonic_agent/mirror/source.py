"""The agent's mirror sources on the collector interface (`mirror.interface`):

- `XdpMirrorSource` (mirror.mode = xdp): the kernel decoder (bpf/erspan_decoder.bpf.c)
  aggregates flows and sessions in bounded maps at line rate and drops the mirrored copies;
- `AfPacketMirrorSource` (mirror.mode = afpacket, and the fallback when XDP cannot attach,
  e.g. a foreign XDP program on the device): a TPACKET_V3 ring feeding the erspan library's
  `MirrorCollector` from one thread.
Both read the same way at export time: top-K flow records and session records (through the
MIRROR_SESSION `lookup` hook), malformed counts by reason, and the source's own counters.
"""
from __future__ import annotations

import logging
import threading
from typing import Dict, List, Optional

from erspan import MirrorCollector
from erspan.afpacket import PacketRing

from ..bpf import BpfError
from ..config import MirrorConfig
from ..records import FlowRecord, MirrorSessionStats
from .records import SessionLookup, flow_records, no_match, session_stats

log = logging.getLogger("telegen.mirror")


class MirrorSource:
    """Reads shared by both sources: `self.collector` has top_flows, sessions and stats."""

    kind = ""

    def __init__(self, cfg: MirrorConfig):
        if not cfg.interface:
            raise ValueError("mirror.interface is required for a mirror source")
        self.cfg = cfg
        self.collector = None

    def flow_records(self, lookup: SessionLookup = no_match) -> List[FlowRecord]:
        return flow_records(self.collector.top_flows(self.cfg.top_flows), lookup)

    def session_records(self, lookup: SessionLookup = no_match) -> List[MirrorSessionStats]:
        return session_stats(self.collector.sessions(), lookup)

    def malformed(self) -> Dict[str, int]:
        return self.collector.stats()["malformed"]

    def agent_counters(self) -> Dict[str, float]:
        stats = self.collector.stats()
        return {"mirror_frames_total": float(stats["frames"]),
                "mirror_flow_packets_total": float(stats["flow_packets"]),
                "mirror_flows": float(stats["flows"]),
                "mirror_flow_evictions_total": float(stats["flow_evictions"]),
                "mirror_session_evictions_total": float(stats["session_evictions"]),
                "mirror_xdp": 1.0 if self.kind == "xdp" else 0.0,
                **self.extra_counters()}

    def extra_counters(self) -> Dict[str, float]:
        return {}


class XdpMirrorSource(MirrorSource):
    kind = "xdp"

    def start(self) -> None:
        from .xdp import XdpMirrorDecoder  # loads the BPF object
        decoder = XdpMirrorDecoder(max_flows=self.cfg.max_flows, vendor_header_len=self.cfg.vendor_header_len)
        try:
            decoder.attach(self.cfg.interface)
        except BaseException:
            decoder.close()
            raise
        self.collector = decoder

    def stop(self) -> None:
        if self.collector is not None:
            self.collector.close()

    def extra_counters(self) -> Dict[str, float]:
        stats = self.collector.stats()
        return {"mirror_passed_to_stack_total": float(stats["passed"]),
                "mirror_seq_contention_total": float(stats["seq_contention"])}


class AfPacketMirrorSource(MirrorSource):
    kind = "afpacket"

    def __init__(self, cfg: MirrorConfig):
        super().__init__(cfg)
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

    def extra_counters(self) -> Dict[str, float]:
        ring = self._ring.stats() if self._ring else {"packets": 0, "drops": 0}
        return {"mirror_capture_drops_total": float(ring["drops"]),
                "mirror_capture_running": float(bool(self._thread and self._thread.is_alive()))}


def start_mirror_source(cfg: MirrorConfig) -> MirrorSource:
    """The configured source, started; XDP that cannot attach falls back to AF_PACKET."""
    if cfg.mode == "xdp":
        source = XdpMirrorSource(cfg)
        try:
            source.start()
            log.info("mirror decoding in XDP", extra={"interface": cfg.interface})
            return source
        except (BpfError, OSError) as exc:
            log.warning("XDP mirror decoder not usable, decoding in userspace (AF_PACKET)",
                        extra={"interface": cfg.interface, "reason": str(exc)})
    source = AfPacketMirrorSource(cfg)
    source.start()
    return source
