"""The agent's one pipeline, visible in one place:

    sources (read once per tick)           decode / aggregate          enrich              export
    ----------------------------           ------------------          ------              ------
    port probes (XDP ingress, TC egress) -> per-CPU kernel maps     \
    mirror copies (XDP or AF_PACKET)     -> flow table, sessions     >  SONiC model  ->  Snapshot  ->  Prometheus
    COUNTERS_DB (SONiC's own counters)   -> one round trip per ns   /   (redis, live)   (one per     OTLP, gNMI
                                                                                         tick)    (each through
                                                                                                   its privacy policy)

Kernel maps and the flow table are the aggregates. Every tick (`tick_s`) the SnapshotFeed
reads each source once into one Snapshot that every exporter shares; the catalogue
(sonic_agent.catalogue) says what each encoder makes of it; each exporter sees it through
its privacy policy (sonic_agent.privacy: one redacted Snapshot per Snapshot and policy). A
model change re-labels the current Snapshot at once (a removed port or session disappears
from every output), drives the probes (attach/detach as ports come and go) and wakes gNMI
ON_CHANGE streams.

Mirror jobs (sonic_agent.jobs, `jobs.enabled`) are one more consumer: the Snapshot carries
every flow of the streams they watch (the same one read of the flow table), each new Snapshot
updates their counts, and the mirror source hands their streams' frames to their captures.
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Callable, Dict, List, Optional

from .catalogue import CATALOGUE, Catalogue
from .config import EXPORTERS, AgentConfig
from .errors import UserError
from .privacy.policy import Policies
from .records import MirrorReading, ProbeReading, Snapshot
from .hoststats import HostReader
from .snapshots import SnapshotFeed
from .sonic.mirror_match import session_lookup
from .sonic.model import SwitchModel

log = logging.getLogger("telegen.pipeline")
PROBE_TALKERS_PER_PORT = 10  # top talkers per port in a Snapshot: bounds the exporters' series


class Pipeline:
    def __init__(self, cfg: AgentConfig, catalogue: Catalogue = CATALOGUE,
                 after_tick: Optional[Callable[[], None]] = None, job_leftovers_removed: Optional[int] = None):
        self.cfg = cfg
        self.catalogue = catalogue
        self.model = SwitchModel.from_config(cfg.sonic)
        self.feed = SnapshotFeed(self.read_snapshot, self.relabel_snapshot, cfg.tick_s, after_tick)
        self._family_settings = {f.name: getattr(cfg.families, f.name) for f in dataclasses.fields(cfg.families)}
        self.host = HostReader(cfg.host) if cfg.host.enabled else None
        self.mirror = None  # started in start(): the XDP decoder attaches, or AF_PACKET stands in
        self.session_lookup = session_lookup(self.model, span_port=cfg.mirror.interface)
        self._ports_changed = threading.Event()
        self._source_errors, self._failed_sources = 0, set()
        self._stopping = threading.Event()
        self._probe_thread: Optional[threading.Thread] = None
        self.exporters: List = []
        self._started_exporters: List = []
        export = cfg.export
        # Each exporter reads the feed's Snapshot through its privacy policy (raw when it has none);
        # the mirror jobs' API obeys jobs.privacy (sonic_agent.jobs).
        self.privacy = Policies.of(cfg, catalogue)
        view = {name: self.privacy.wrap(name, self.feed.current) for name in EXPORTERS}
        if export.prometheus.enabled:
            from .export.prometheus import PrometheusExporter
            self.exporters.append(PrometheusExporter(export.prometheus, view["prometheus"], catalogue))
        if export.otlp.enabled:
            from .export.otlp import OtlpExporter
            self.exporters.append(OtlpExporter(export.otlp, view["otlp"], catalogue))
        if export.gnmi.enabled:
            from .export.gnmi import GnmiServer
            self.exporters.append(GnmiServer(export.gnmi, view["gnmi"], self.feed.subscribe, catalogue=catalogue))
        self.slo = None  # SLOs counted from every Snapshot, exported with the next (sonic_agent.slo)
        if cfg.slo.objectives:
            from .slo.engine import engine_for
            self.slo = engine_for(cfg, catalogue, self.feed.current, self.exporters)
        self.jobs, self.job_api = self._jobs(cfg) if cfg.jobs.enabled else (None, None)
        self._job_leftovers_removed = job_leftovers_removed  # by the agent, before the imports
        self.probes = None  # last: an exporter refusing its config leaves no BPF object loaded
        if cfg.probes.enabled:
            from .probes.manager import ProbeManager
            self.probes = ProbeManager(cfg.probes)

    def _jobs(self, cfg: AgentConfig):
        from .jobs.api import JobApi
        from .jobs.manager import JobManager
        from .sonic.dbconfig import load_namespaces
        if not cfg.mirror.enabled:
            raise UserError("jobs.enabled: needs mirror.enabled (the agent decodes the jobs' mirror copies)")
        otlp = next((e for e in self.exporters if hasattr(e, "export_job_flows")), None)
        manager = JobManager(cfg.jobs, self.model, load_namespaces(cfg.sonic.database_config, cfg.sonic.database_global),
                             self.feed.current, cfg.jobs.collector_ip or interface_address(cfg.mirror.interface),
                             drain_s=2 * cfg.tick_s + 0.5, set_capture=self._set_capture,
                             otlp_export=otlp.export_job_flows if otlp else None,
                             privacy=self.privacy.by_exporter["jobs"], otlp_privacy=self.privacy.by_exporter["otlp"])
        return manager, JobApi(cfg.jobs, manager, cfg.export.otlp.endpoint if otlp else "")

    def _set_capture(self, streams, snap_len: int) -> None:
        if self.mirror is not None:
            self.mirror.set_capture(streams, snap_len)

    def start(self) -> None:
        """Exporters bind first, so a listen address that cannot be had fails at once (before the
        sync wait, before anything is attached); until the first tick they serve an empty
        Snapshot. Jobs first remove what a killed predecessor left in CONFIG_DB; their API binds
        last, once the mirror is decoded. On failure, `stop()` undoes what had started."""
        if self.jobs is not None:
            self.jobs.remove_leftovers(self._job_leftovers_removed)
        self.model.start()
        self.model.subscribe(self.feed.model_changed)
        for exporter in self.exporters:
            exporter.start()
            self._started_exporters.append(exporter)
        if not self.model.wait_synced(timeout=10):
            log.warning("SONiC model not synced yet; serving what is known and retrying")
        if self.cfg.mirror.enabled:  # before the probes: the XDP decoder owns the collector's XDP
            from .mirror.source import start_mirror_source  # hook, the probes count it with TC
            self.mirror = start_mirror_source(self.cfg.mirror)
        if self.jobs is not None:
            self.mirror.capture_sink = self.jobs.on_captured
            self.feed.subscribe(self.jobs.on_snapshot)
            self.jobs.start()
        if self.probes is not None:
            self.model.subscribe(lambda changes: self._ports_changed.set())
            self._probe_thread = threading.Thread(target=self._follow_ports, name="probe-sync", daemon=True)
            self._probe_thread.start()
        if self.slo is not None:
            self.slo.start(self.feed.subscribe)
        self.feed.start()
        if self.job_api is not None:  # last: a job is taken only once its mirror is decoded
            self.job_api.start()

    def stop(self) -> None:
        """Stops what `start()` started; safe after a start that failed part way."""
        self._stopping.set()
        self._ports_changed.set()
        if self.jobs is not None:  # the API first (no new job), then every job's entries removed
            self.job_api.stop()
            self.jobs.stop()
        self.feed.stop()
        if self.slo is not None:
            self.slo.stop()
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
        """The current Snapshot (at most one tick old)."""
        return self.feed.current()

    def _model_part(self) -> dict:
        return dict(device=self.model.device_info(), ports=self.model.port_states(), lags=self.model.lag_states(),
                    vlans=self.model.vlan_states(), bgp_peers=self.model.bgp_peers())

    def read_snapshot(self, seq: int) -> Snapshot:
        """Every source read once: the model (in memory, first: the readings are joined to the
        state they were read under), COUNTERS_DB (one round trip per namespace), the SONiC table
        families, the host, each kernel map of the probes and the mirror decoder. A source that
        fails gives nothing this tick (counted, logged once) and the others are still read."""
        model = self._model_part()
        port_counters, queue_counters = self._source("counters", lambda: self.model.read_counters(self.catalogue),
                                                     ([], []))
        families = self._source("families", lambda: self.model.read_families(self.catalogue, self._family_settings),
                                {})
        if self.host is not None:
            families.update(self._source("host", self.host.read, {}))
        probes = self._source("probes", lambda: self.probes.read(PROBE_TALKERS_PER_PORT),
                              ProbeReading()) if self.probes is not None else ProbeReading()
        watch = self.jobs.watched_streams() if self.jobs is not None else ()
        mirror = self._source("mirror", lambda: self.mirror.read(self.session_lookup, watch,
                                                                 self.jobs.watch_limit if watch else 0),
                              MirrorReading()) if self.mirror is not None else MirrorReading()
        slo = self.slo.counters() if self.slo is not None else {}
        if self.slo is not None:
            families.update(self.slo.rows())
        return Snapshot(
            timestamp=time.time(), seq=seq, **model, port_counters=port_counters,
            queue_counters=queue_counters, probe_counts=probes.counts, probe_sizes=probes.sizes,
            probe_talkers=probes.talkers, kernel_drops=probes.drops, flows=mirror.flows,
            watched_flows=mirror.watched_flows, sessions=mirror.sessions, malformed=mirror.malformed, agent=self.agent_counters(probes.counters, mirror.counters, slo), families=families)

    def _source(self, name: str, read: Callable, empty):
        try:
            return read()
        except Exception:  # one broken source must not cost the others their tick
            self._source_errors += 1
            first = name not in self._failed_sources
            self._failed_sources.add(name)
            (log.exception if first else log.debug)("reading a source failed; it gives nothing this tick",
                                                    extra={"source": name})
            return empty

    def relabel_snapshot(self, previous: Snapshot, seq: int) -> Snapshot:
        """The model's state now over the last tick's readings, less those of ports that left."""
        model = self._model_part()
        gone = {p.name for p in previous.ports} - {p.name for p in model["ports"]}

        def kept(records):
            return [r for r in records if r.port not in gone] if gone else records

        return dataclasses.replace(
            previous, timestamp=time.time(), seq=seq, **model, port_counters=kept(previous.port_counters),
            queue_counters=kept(previous.queue_counters), probe_counts=kept(previous.probe_counts),
            probe_sizes=kept(previous.probe_sizes), probe_talkers=kept(previous.probe_talkers),
            kernel_drops=kept(previous.kernel_drops))

    def agent_counters(self, *parts: Dict[str, float]) -> Dict[str, float]:
        states = self.model.connection_states()
        out = {
            "redis_instances": float(len(states)),
            "redis_connected": float(sum(s.connected for s in states)),
            "redis_reconnects_total": float(sum(s.reconnects for s in states)),
            **self.model.counter_reads, **self.feed.counters(),
            "source_read_errors_total": float(self._source_errors),
        }
        for exporter in self.exporters:
            out.update(exporter.agent_counters())
        if self.jobs is not None:
            out.update(self.jobs.agent_counters())
            out.update(self.job_api.agent_counters())
        for counters in parts:
            out.update(counters)
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
        if self.jobs is not None:
            out["jobs"] = f"{'https' if self.cfg.jobs.tls.cert else 'http'}://{self.cfg.jobs.listen}/v1/monitor/jobs"
        return out


def interface_address(interface: Optional[str]) -> Optional[str]:
    """The first IPv4 address of a device (else its first global IPv6 one), None if it has none."""
    from pyroute2 import IPRoute
    with IPRoute() as ipr:
        try:
            index = ipr.link_lookup(ifname=interface)
        except Exception:
            return None
        addrs = [a for a in ipr.get_addr(index=index[0])] if index else []
    found = sorted((a["family"] != 2, a.get_attr("IFA_ADDRESS")) for a in addrs
                   if a.get_attr("IFA_ADDRESS") and not a.get_attr("IFA_ADDRESS").startswith("fe80"))
    return found[0][1] if found else None
