"""The agent's mirror sources on the collector interface (`mirror.interface`):

- `XdpMirrorSource` (mirror.mode = xdp): the kernel decoder (bpf/erspan_decoder.bpf.c)
  aggregates flows and sessions in bounded maps at line rate and drops the mirrored copies;
- `AfPacketMirrorSource` (mirror.mode = afpacket, and the fallback when XDP cannot attach,
  e.g. a foreign XDP program on the device): a TPACKET_V2 ring feeding the erspan library's
  `MirrorCollector` from one thread.
Both read the same way at export time (`read`): one read of the flow and session tables
gives top-K flow records and session records (through the MIRROR_SESSION `lookup` hook),
malformed counts by reason, and the source's own counters. Both capture for jobs
(`set_capture`: the mirrored frames of some streams, cut to a snap length, to the
`capture_sink`; mirror.capture).
"""
from __future__ import annotations

import contextlib
import logging
import socket
import threading
from typing import Dict, Iterable, Optional, Sequence, Tuple

from erspan import MirrorCollector
from erspan.afpacket import PacketRing
from erspan.streams import Stream

from ..bpf import BpfError
from ..config import MirrorConfig
from ..errors import UserError
from ..records import MirrorReading
from ..sonic.follower import backoff_delay
from .capture import CaptureSink, CapturedFrame, KernelCapture, captured_frames
from .reader import Clock
from .records import SessionLookup, flow_records, no_match, session_stats

log = logging.getLogger("telegen.mirror")


class MirrorSource:
    """What both sources share: `self.collector` answers `read(top)` (an erspan Reading)."""

    kind = ""

    def __init__(self, cfg: MirrorConfig):
        if not cfg.interface:
            raise ValueError("mirror.interface is required for a mirror source")
        self.cfg = cfg
        self.collector = None
        self.capture_sink: CaptureSink = lambda frame: None
        self.captured = 0

    def set_capture(self, streams: Sequence[Stream], snap_len: int) -> None:
        """Hand the mirrored frames of `streams` (none: capture off) to `capture_sink`."""
        raise NotImplementedError

    def _deliver(self, frame: CapturedFrame) -> None:
        self.captured += 1
        self.capture_sink(frame)

    def read(self, lookup: SessionLookup = no_match, watch: Iterable[Stream] = (),
             watch_limit: int = 0) -> MirrorReading:
        """What a Snapshot takes from the source: one read of its flow and session tables (in
        the kernel: one read of each map), as neutral records, with the source's counters;
        also the `watch_limit` largest flows of the `watch` streams (what jobs follow)."""
        reading = self.collector.read(self.cfg.top_flows, watch=watch, watch_limit=watch_limit)
        stats = reading.stats
        counters = {"mirror_frames_total": float(stats["frames"]),
                    "mirror_flow_packets_total": float(stats["flow_packets"]),
                    "mirror_flows": float(stats["flows"]),
                    "mirror_flow_evictions_total": float(stats["flow_evictions"]),
                    "mirror_session_evictions_total": float(stats["session_evictions"]),
                    "mirror_xdp": 1.0 if self.kind == "xdp" else 0.0,
                    "mirror_job_capture_frames_total": float(self.captured),
                    **self.extra_counters(stats)}
        return MirrorReading(flow_records(reading.flows, lookup), session_stats(reading.sessions, lookup),
                             stats["malformed"], counters, flow_records(reading.watched, lookup))

    def extra_counters(self, stats: dict) -> Dict[str, float]:
        return {}


class XdpMirrorSource(MirrorSource):
    kind = "xdp"
    capture: Optional[KernelCapture] = None

    def start(self) -> None:
        from .xdp import XdpMirrorDecoder  # loads the BPF object
        decoder = XdpMirrorDecoder(max_flows=self.cfg.max_flows, vendor_header_len=self.cfg.vendor_header_len)
        try:
            decoder.attach(self.cfg.interface)
            self.capture = KernelCapture(decoder.obj, self._deliver, Clock())
        except BaseException:
            decoder.close()
            raise
        self.collector = decoder

    def set_capture(self, streams: Sequence[Stream], snap_len: int) -> None:
        self.capture.set_streams(streams, snap_len)

    def stop(self) -> None:
        if self.capture is not None:
            self.capture.stop()
        if self.collector is not None:
            self.collector.close()

    def extra_counters(self, stats: dict) -> Dict[str, float]:
        return {"mirror_passed_to_stack_total": float(stats["passed"]),
                "mirror_seq_contention_total": float(stats["seq_contention"]),
                "mirror_map_reads_total": float(stats["map_reads"]),
                "mirror_job_capture_dropped_total": float(self.capture.dropped())}


class AfPacketMirrorSource(MirrorSource):
    """One capture thread; a ring that fails (the interface flapped, was removed and re-created)
    is reopened with capped backoff, each reopen counted in mirror_capture_restarts_total."""

    kind = "afpacket"
    reopen_max_s = 30.0

    def __init__(self, cfg: MirrorConfig):
        super().__init__(cfg)
        self.collector = MirrorCollector(max_flows=cfg.max_flows, vendor_header_len=cfg.vendor_header_len)
        self._ring: Optional[PacketRing] = None
        self._ring_lock = threading.Lock()  # the capture thread swaps the ring, exporters read its stats
        self._closed_drops = 0  # drops of the rings already closed (the kernel's count is per ring)
        self._restarts = 0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._capture: Tuple[Tuple[Stream, ...], int] = ((), 0)  # swapped whole: read without a lock

    def set_capture(self, streams: Sequence[Stream], snap_len: int) -> None:
        self._capture = (tuple(streams), snap_len)

    def start(self) -> None:
        try:
            self._ring = self._open_ring()
        except OSError as exc:
            raise UserError(f"mirror.interface: {self.cfg.interface}: cannot capture: {exc.strerror}") from None
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="mirror-capture", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(5)
        self._close_ring()

    def _open_ring(self) -> PacketRing:
        return PacketRing(self.cfg.interface, block_size=self.cfg.ring_block_kb * 1024,
                          block_count=self.cfg.ring_blocks)

    def _close_ring(self) -> None:
        with self._ring_lock:
            ring, self._ring = self._ring, None
            if ring is not None:
                with contextlib.suppress(OSError):  # a broken socket's last counts are lost, not the thread
                    self._closed_drops += ring.stats()["drops"]
                ring.close()

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                if self._ring is None:
                    ring = self._open_ring()
                    with self._ring_lock:
                        self._ring, self._restarts = ring, self._restarts + 1
                    log.info("mirror capture on %s reopened", self.cfg.interface)
                for frames in self._ring.batches(self._stop):
                    decoded = self.collector.add_frames(frames)
                    streams, snap_len = self._capture
                    if streams:
                        for frame in captured_frames(frames, decoded, streams, snap_len):
                            self._deliver(frame)
                    failures = 0
            except OSError as exc:
                delay = backoff_delay(failures, self.reopen_max_s)
                (log.warning if failures == 0 else log.debug)(
                    "mirror capture on %s failed (%s), reopening in %.1fs", self.cfg.interface, exc, delay)
                self._close_ring()
                failures += 1
                self._stop.wait(delay)

    def extra_counters(self, stats: dict) -> Dict[str, float]:
        with self._ring_lock:
            drops = self._closed_drops + (self._ring.stats()["drops"] if self._ring else 0)
            restarts, running = self._restarts, self._ring is not None
        return {"mirror_capture_drops_total": float(drops),
                "mirror_capture_restarts_total": float(restarts),
                "mirror_capture_running": float(running and bool(self._thread and self._thread.is_alive()))}


def start_mirror_source(cfg: MirrorConfig) -> MirrorSource:
    """The configured source, started; XDP that cannot attach falls back to AF_PACKET."""
    try:
        socket.if_nametoindex(cfg.interface)
    except OSError:
        raise UserError(f"mirror.interface: {cfg.interface}: no such device") from None
    if cfg.mode == "xdp":
        source = XdpMirrorSource(cfg)
        try:
            source.start()
            log.info("mirror decoding in XDP",
                     extra={"interface": cfg.interface, "object": source.collector.object_name})
            return source
        except (BpfError, OSError) as exc:
            log.warning("XDP mirror decoder not usable, decoding in userspace (AF_PACKET)",
                        extra={"interface": cfg.interface, "reason": str(exc)})
    source = AfPacketMirrorSource(cfg)
    source.start()
    return source
