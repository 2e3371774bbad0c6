"""The agent's one pipeline, visible in one place:

    sources            decode / aggregate           enrich               export
    -------            ------------------           ------               ------
    port probes (XDP ingress, TC egress)  ->  per-CPU kernel maps, summed   \\
    mirror copies (XDP or AF_PACKET)      ->  flow table + session stats     >  SONiC model  ->  Snapshot  ->  Prometheus
    COUNTERS_DB (SONiC's own counters)    ->  read at export time           /   (redis, live)              OTLP, gNMI

Nothing is pushed through queues between the stages: kernel maps and the flow table are the
aggregates, and every exporter pulls a `Snapshot` built here at export time, so a removed
port or session disappears from every output at the next export. The model's change events
drive the probes (attach/detach as ports come and go) and gNMI ON_CHANGE.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Dict, List, Optional

from .config import AgentConfig
from .records import ProbeReading, Snapshot
from .sonic.mirror_match import session_lookup
from .sonic.model import SwitchModel

log = logging.getLogger("telegen.pipeline")
PROBE_TALKERS_PER_PORT = 10  # top talkers per port in a Snapshot: bounds the exporters' series


class Pipeline:
    def __init__(self, cfg: AgentConfig):
        self.cfg = cfg
        self.model = SwitchModel.from_config(cfg.sonic)
        self.mirror = None  # started in start(): the XDP decoder attaches, or AF_PACKET stands in
        self.session_lookup = session_lookup(self.model, span_port=cfg.mirror.interface)
        self._ports_changed = threading.Event()
        self._stopping = threading.Event()
        self._probe_thread: Optional[threading.Thread] = None
        self.exporters: List = []
        self._started_exporters: List = []
        export = cfg.export
        if export.prometheus.enabled:
            from .export.prometheus import PrometheusExporter
            self.exporters.append(PrometheusExporter(export.prometheus, self.snapshot))
        if export.otlp.enabled:
            from .export.otlp import OtlpExporter
            self.exporters.append(OtlpExporter(export.otlp, self.snapshot))
        if export.gnmi.enabled:
            from .export.gnmi import GnmiServer
            self.exporters.append(GnmiServer(export.gnmi, self.snapshot, self.model.subscribe))
        self.probes = None  # last: an exporter refusing its config leaves no BPF object loaded
        if cfg.probes.enabled:
            from .probes.manager import ProbeManager
            self.probes = ProbeManager(cfg.probes)

    def start(self) -> None:
        """Exporters bind first, so a listen address that cannot be had fails at once (before the
        sync wait, before anything is attached). On failure, `stop()` undoes what had started."""
        self.model.start()
        for exporter in self.exporters:
            exporter.start()
            self._started_exporters.append(exporter)
        if not self.model.wait_synced(timeout=10):
            log.warning("SONiC model not synced yet; serving what is known and retrying")
        if self.cfg.mirror.enabled:  # before the probes: the XDP decoder owns the collector's XDP
            from .mirror.source import start_mirror_source  # hook, the probes count it with TC
            self.mirror = start_mirror_source(self.cfg.mirror)
        if self.probes is not None:
            self.model.subscribe(lambda changes: self._ports_changed.set())
            self._probe_thread = threading.Thread(target=self._follow_ports, name="probe-sync", daemon=True)
            self._probe_thread.start()

    def stop(self) -> None:
        """Stops what `start()` started; safe after a start that failed part way."""
        self._stopping.set()
        self._ports_changed.set()
        while self._started_exporters:
            self._started_exporters.pop().stop()
        if self.mirror is not None:
            self.mirror.stop()
        if self._probe_thread is not None:
            self._probe_thread.join(5)
        if self.probes is not None:
            self.probes.close()
        self.model.stop()

    def probe_targets(self) -> List[str]:
        """The netdevs to probe: every port, PortChannel and VLAN the model knows, plus mgmt."""
        names = [port.name for port in self.model.port_states()]
        if self.cfg.probes.management_interface:
            names.append(self.cfg.probes.management_interface)
        return names

    def _follow_ports(self) -> None:
        """Attach/detach probes on model changes at once, and every read interval for netdevs
        that appear after the model has named them."""
        while not self._stopping.is_set():
            self._ports_changed.clear()
            try:
                self.probes.sync(self.probe_targets())
            except Exception:  # a failed attach is logged and retried at the next tick
                log.exception("probe sync failed")
            self._ports_changed.wait(self.cfg.probes.read_interval_s)

    def snapshot(self) -> Snapshot:
        """Everything exporters need, read now: model state, SONiC counters, agent health."""
        mirror = self.mirror.read(self.session_lookup) if self.mirror is not None else None
        reading = self.probes.read(PROBE_TALKERS_PER_PORT) if self.probes is not None else ProbeReading()
        return Snapshot(
            timestamp=time.time(),
            device=self.model.device_info(),
            ports=self.model.port_states(),
            port_counters=self.model.port_counters(),
            queue_counters=self.model.queue_counters(),
            probe_counts=reading.counts,
            probe_sizes=reading.sizes,
            probe_talkers=reading.talkers,
            kernel_drops=reading.drops,
            flows=mirror.flows if mirror else [],
            sessions=mirror.sessions if mirror else [],
            malformed=mirror.malformed if mirror else {},
            agent=self.agent_counters({**reading.counters, **(mirror.counters if mirror else {})}),
        )

    def agent_counters(self, source_counters: Dict[str, float]) -> Dict[str, float]:
        states = self.model.connection_states()
        out = {
            "redis_instances": float(len(states)),
            "redis_connected": float(sum(s.connected for s in states)),
            "redis_reconnects_total": float(sum(s.reconnects for s in states)),
        }
        for part in self.exporters:
            out.update(part.agent_counters())
        out.update(source_counters)
        return out

    def endpoints(self) -> Dict[str, str]:
        export = self.cfg.export
        out = {}
        if export.prometheus.enabled:
            out["prometheus"] = f"http://{export.prometheus.listen}/metrics"
        if export.otlp.enabled:
            out["otlp"] = f"{export.otlp.protocol} {export.otlp.endpoint}"
        if export.gnmi.enabled:
            out["gnmi"] = export.gnmi.listen
        return out
