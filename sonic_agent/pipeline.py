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
import time
from typing import Dict, List

from .config import AgentConfig
from .records import Snapshot
from .sonic.model import SwitchModel

log = logging.getLogger("telegen.pipeline")


class Pipeline:
    def __init__(self, cfg: AgentConfig):
        self.cfg = cfg
        self.model = SwitchModel.from_config(cfg.sonic)
        self.exporters: List = []
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

    def start(self) -> None:
        self.model.start()
        if not self.model.wait_synced(timeout=10):
            log.warning("SONiC model not synced yet; serving what is known and retrying")
        for exporter in self.exporters:
            exporter.start()

    def stop(self) -> None:
        for exporter in reversed(self.exporters):
            exporter.stop()
        self.model.stop()

    def snapshot(self) -> Snapshot:
        """Everything exporters need, read now: model state, SONiC counters, agent health."""
        return Snapshot(
            timestamp=time.time(),
            device=self.model.device_info(),
            ports=self.model.port_states(),
            port_counters=self.model.port_counters(),
            queue_counters=self.model.queue_counters(),
            agent=self.agent_counters(),
        )

    def agent_counters(self) -> Dict[str, float]:
        states = self.model.connection_states()
        return {
            "redis_instances": float(len(states)),
            "redis_connected": float(sum(s.connected for s in states)),
            "redis_reconnects_total": float(sum(s.reconnects for s in states)),
        }

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
