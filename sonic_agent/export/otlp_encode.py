"""Pure encoders: a Snapshot -> OTLP ExportMetricsServiceRequest, flows -> ExportLogsServiceRequest.

Metrics (OTel semantic conventions where one exists; `network.interface.name` on every port
metric, `network.io.direction` = receive | transmit on every port counter and queue (queues
are egress: transmit), plus `sonic.port.alias` and `sonic.namespace` when set):

| metric | kind, unit | from |
| --- | --- | --- |
| `hw.network.io` | counter, By | COUNTERS_DB in/out octets |
| `hw.network.packets` | counter, {packet}, `sonic.packet.cast` | COUNTERS_DB unicast/multicast/broadcast |
| `hw.errors` | counter, {error}, `hw.type`=network | COUNTERS_DB in/out errors |
| `sonic.port.discards` | counter, {packet} | COUNTERS_DB in/out discards |
| `sonic.port.io.rate`, `sonic.port.packets.rate` | gauge, By/s, {packet}/s | COUNTERS_DB RATES |
| `hw.network.up` | updowncounter 0/1 | APPL_DB oper_status |
| `hw.network.bandwidth.limit` | updowncounter, By/s | CONFIG_DB speed |
| `sonic.lag.members`, `sonic.vlan.members` | updowncounter, {port} | PortState.lag, .vlans (on the LAG, VLAN) |
| `sonic.lag.member.enabled` | updowncounter 0/1, `sonic.lag.name` | APPL_DB LAG_MEMBER_TABLE status |
| `sonic.vlan.member` | updowncounter 1, `sonic.vlan.name`, `sonic.vlan.tagging_mode` | CONFIG_DB VLAN_MEMBER |
| `sonic.queue.packets`, `sonic.queue.io`, `sonic.queue.dropped`, `sonic.queue.dropped.io` | counter, {packet}, By, `sonic.queue.index`, `sonic.queue.type` | COUNTERS_DB queues |
| `sonic.queue.shared_watermark` | gauge, By | COUNTERS_DB queue shared watermark |
| `telegen.probe.packets`, `telegen.probe.io` | counter, {packet}, By, `telegen.probe.class` | port probes |
| `telegen.probe.packet.size` | histogram, By; bounds 1, 3, 7, ... 32767 (log2), sum = the probes' bytes there | port probes |
| `telegen.probe.talker.packets`, `telegen.probe.talker.io` | counter, {packet}, By, `source.address`, `network.transport`, `telegen.probe.class` (receive) | port probes: sampled estimates, top 10 sources towards the CPU per port |
| `telegen.kernel.dropped`, `telegen.kernel.dropped.io` | counter, {packet}, By, `error.type` (the skb_drop_reason, e.g. no_socket) | port probes: tp_btf/kfree_skb |
| `telegen.mirror.packets`, `.lost`, `.truncated` | counter, {packet}, `telegen.mirror.*` | mirror decoder |
| `telegen.mirror.malformed` | counter, {packet}, `error.type` | mirror decoder |
| `telegen.agent.<name>` | counter if the name ends in `_total`, else gauge | Snapshot.agent |

Resource: `host.name` (DEVICE_METADATA hostname), `sonic.hwsku`, `sonic.platform`,
`os.name`=SONiC and `os.version` (the SONiC version) when present, `service.name`.

Flows: one log record each, `event_name` `network.flow`, attributes `source.address`,
`destination.address`, `source.port`, `destination.port`, `network.transport`,
`network.type`, `network.io.direction`, `telegen.flow.packets`, `telegen.flow.bytes`,
`telegen.flow.estimated_packets`, `telegen.flow.estimated_bytes` (raw x the session's
sample_rate; raw when not sampled), and
when known `telegen.flow.tcp_flags`, `.dscp`, `.vlan`, `.sample_rate`, `telegen.mirror.session`,
`.session_id`, `.source_ports`, `telegen.erspan.type`; the record's time is the flow's
last_seen. Requests carry at most `LOGS_PER_REQUEST` records (a collector's default gRPC
receive limit is 4 MiB).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, Iterator, List, Optional, Tuple

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from .. import __version__
from ..records import FlowRecord, Snapshot
from .schema import (PORT_COUNTERS, QUEUE_GAUGES, is_enabled, is_up, lag_members, ports_by_name,
                     size_histograms, transport_name, vlan_members)

LOGS_PER_REQUEST = 2000
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
SCOPE = InstrumentationScope(name="telegen-sonic", version=__version__)
DIRECTIONS = {"rx": "receive", "tx": "transmit", "ingress": "receive", "egress": "transmit"}
_PORT_METRICS = {  # CounterMeaning.measure -> (name, unit, monotonic sum or gauge)
    "bytes": ("hw.network.io", "By", True), "packets": ("hw.network.packets", "{packet}", True),
    "errors": ("hw.errors", "{error}", True), "discards": ("sonic.port.discards", "{packet}", True),
    "rate_bytes": ("sonic.port.io.rate", "By/s", False), "rate_packets": ("sonic.port.packets.rate", "{packet}/s", False),
}
_QUEUE_METRICS = {  # QueueCounter.name -> (name, unit)
    "packets": ("sonic.queue.packets", "{packet}"), "bytes": ("sonic.queue.io", "By"),
    "dropped_packets": ("sonic.queue.dropped", "{packet}"), "dropped_bytes": ("sonic.queue.dropped.io", "By"),
    "shared_watermark_bytes": ("sonic.queue.shared_watermark", "By"),
}
Attrs = Tuple[Tuple[str, object], ...]


def _value(v) -> AnyValue:
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    return AnyValue(double_value=v)


def key_values(attrs: Attrs) -> List[KeyValue]:
    return [KeyValue(key=k, value=_value(v)) for k, v in attrs]


def resource(snapshot: Snapshot) -> Resource:
    d = snapshot.device
    attrs = [("service.name", "telegen-sonic"), ("host.name", d.hostname), ("sonic.hwsku", d.hwsku),
             ("sonic.platform", d.platform)]
    if d.sonic_version:
        attrs += [("os.name", "SONiC"), ("os.version", d.sonic_version)]
    return Resource(attributes=key_values(tuple((k, v) for k, v in attrs if v)))


class DeltaState:
    """Last exported value per monotonic series, for delta temporality; LRU-bounded."""

    def __init__(self, max_series: int):
        self._last: "OrderedDict[tuple, Tuple[float, int]]" = OrderedDict()
        self._max = max_series

    def delta(self, key: tuple, value, now_ns: int) -> Optional[Tuple[object, int]]:
        """(increase since the last export, its start time); None the first time a series is seen.
        A value is a number or a tuple of numbers (a histogram's counts and sum), taken elementwise."""
        previous = self._last.pop(key, None)
        self._last[key] = (value, now_ns)
        if len(self._last) > self._max:
            self._last.popitem(last=False)
        if previous is None:
            return None
        last_value, last_ns = previous
        if isinstance(value, tuple):
            reset = len(value) != len(last_value) or any(v < last for v, last in zip(value, last_value))
            return (value if reset else tuple(v - last for v, last in zip(value, last_value))), last_ns
        return (value - last_value if value >= last_value else value), last_ns  # a reset restarts


class MetricsEncoder:
    """Snapshot -> ExportMetricsServiceRequest; keeps only DeltaState (when delta) between calls."""

    def __init__(self, temporality: str, start_time: float, max_series: int = 100_000):
        self.delta = DeltaState(max_series) if temporality == "delta" else None
        self.start_ns = int(start_time * 1e9)

    def encode(self, snapshot: Snapshot) -> Tuple[ExportMetricsServiceRequest, int]:
        """The request and how many data points it carries."""
        now_ns = int(snapshot.timestamp * 1e9)
        metrics: Dict[str, metrics_pb2.Metric] = {}
        points = 0
        for name, unit, kind, attrs, value in _series(snapshot):
            metric = metrics.get(name)
            if metric is None:
                metric = metrics[name] = metrics_pb2.Metric(name=name, unit=unit)
                self._init_kind(metric, kind)
            container = metric.gauge if kind == "gauge" else metric.histogram if kind == "histogram" else metric.sum
            start = 0 if kind == "gauge" else self.start_ns
            totals = (*value.counts, value.sum or 0) if kind == "histogram" else value
            if kind in ("counter", "histogram") and self.delta is not None:
                step = self.delta.delta((name, attrs), totals, now_ns)
                if step is None:
                    continue
                totals, start = step
            point = container.data_points.add(start_time_unix_nano=start, time_unix_nano=now_ns)
            if kind == "histogram":
                point.explicit_bounds.extend(value.bounds)
                point.bucket_counts.extend(totals[:-1])
                point.count = sum(totals[:-1])
                if value.sum is not None:
                    point.sum = float(totals[-1])
            elif kind == "gauge":
                point.as_double = float(totals)
            else:
                point.as_int = int(totals)
            point.attributes.extend(key_values(attrs))
            points += 1
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add(resource=resource(snapshot))
        rm.scope_metrics.add(scope=SCOPE).metrics.extend(
            m for m in metrics.values() if getattr(m, m.WhichOneof("data")).data_points)
        return request, points

    def _init_kind(self, metric: metrics_pb2.Metric, kind: str) -> None:
        if kind == "gauge":
            metric.gauge.SetInParent()
        elif kind == "histogram":
            metric.histogram.aggregation_temporality = DELTA if self.delta is not None else CUMULATIVE
        elif kind == "updown":
            metric.sum.is_monotonic = False
            metric.sum.aggregation_temporality = CUMULATIVE
        else:
            metric.sum.is_monotonic = True
            metric.sum.aggregation_temporality = DELTA if self.delta is not None else CUMULATIVE


def _series(snap: Snapshot) -> Iterator[Tuple[str, str, str, Attrs, object]]:
    """(metric name, unit, counter | updown | gauge | histogram, attributes, value) for every
    point; a histogram's value is a `SizeHistogram`, the others' a number."""
    ports = ports_by_name(snap)

    def port_attrs(name: str) -> Attrs:
        p = ports.get(name)
        extra = ((("sonic.port.alias", p.alias),) if p and p.alias else ()) + (
            (("sonic.namespace", p.namespace),) if p and p.namespace else ())
        return (("network.interface.name", name),) + extra

    for p in snap.ports:
        up = is_up(p.oper_status)
        if up is not None:
            yield "hw.network.up", "1", "updown", port_attrs(p.name), int(up)
        if p.speed_mbps is not None:
            yield "hw.network.bandwidth.limit", "By/s", "updown", port_attrs(p.name), p.speed_mbps * 125_000
    for c in snap.port_counters:
        meaning = PORT_COUNTERS.get(c.name)
        if meaning is None:
            yield f"sonic.port.{c.name}", "1", "counter", port_attrs(c.port), c.value
            continue
        name, unit, monotonic = _PORT_METRICS[meaning.measure]
        attrs = port_attrs(c.port) + (("network.io.direction", DIRECTIONS[meaning.direction]),)
        if meaning.cast:
            attrs += (("sonic.packet.cast", meaning.cast),)
        if meaning.measure == "errors":
            attrs += (("hw.type", "network"),)
        yield name, unit, "counter" if monotonic else "gauge", attrs, c.value
    yield from _memberships(snap, port_attrs)
    for q in snap.queue_counters:
        name, unit = _QUEUE_METRICS.get(q.name, (f"sonic.queue.{q.name}", "1"))
        attrs = port_attrs(q.port) + (("network.io.direction", "transmit"), ("sonic.queue.index", q.queue),
                                      ("sonic.queue.type", q.kind))
        yield name, unit, "gauge" if q.name in QUEUE_GAUGES else "counter", attrs, q.value
    for c in snap.probe_counts:
        attrs = port_attrs(c.port) + (("network.io.direction", DIRECTIONS.get(c.direction, c.direction)),
                                      ("telegen.probe.class", c.klass))
        yield "telegen.probe.packets", "{packet}", "counter", attrs, c.packets
        yield "telegen.probe.io", "By", "counter", attrs, c.bytes
    for h in size_histograms(snap):
        attrs = port_attrs(h.port) + (("network.io.direction", DIRECTIONS.get(h.direction, h.direction)),)
        yield "telegen.probe.packet.size", "By", "histogram", attrs, h
    for t in snap.probe_talkers:
        attrs = port_attrs(t.port) + (("network.io.direction", "receive"), ("source.address", t.src),
                                      ("network.transport", transport_name(t.proto)), ("telegen.probe.class", t.klass))
        yield "telegen.probe.talker.packets", "{packet}", "counter", attrs, t.packets
        yield "telegen.probe.talker.io", "By", "counter", attrs, t.bytes
    for d in snap.kernel_drops:
        attrs = port_attrs(d.port) + (("error.type", d.reason),)
        yield "telegen.kernel.dropped", "{packet}", "counter", attrs, d.packets
        yield "telegen.kernel.dropped.io", "By", "counter", attrs, d.bytes
    for s in snap.sessions:
        attrs = tuple((k, v) for k, v in (
            ("telegen.mirror.session", s.session), ("telegen.mirror.status", s.status),
            ("telegen.mirror.outer_src", s.outer_src), ("telegen.mirror.outer_dst", s.outer_dst),
            ("telegen.mirror.gre_proto", s.gre_proto), ("telegen.mirror.session_id", s.session_id))
            if v not in ("", None))
        yield "telegen.mirror.packets", "{packet}", "counter", attrs, s.packets
        yield "telegen.mirror.lost", "{packet}", "counter", attrs, s.lost
        yield "telegen.mirror.truncated", "{packet}", "counter", attrs, s.truncated
    for reason, count in sorted(snap.malformed.items()):
        yield "telegen.mirror.malformed", "{packet}", "counter", (("error.type", reason),), count
    for key, value in sorted(snap.agent.items()):
        if key.endswith("_total"):
            yield f"telegen.agent.{key[:-len('_total')]}", "1", "counter", (), value
        else:
            yield f"telegen.agent.{key}", "1", "gauge", (), value


def _memberships(snap: Snapshot, port_attrs: Callable[[str], Attrs]) -> Iterator[Tuple[str, str, str, Attrs, float]]:
    for lag, members in lag_members(snap):
        yield "sonic.lag.members", "{port}", "updown", port_attrs(lag.name), len(members)
        for m in members:
            enabled = is_enabled(m.lag_member_status)
            if enabled is not None:
                yield ("sonic.lag.member.enabled", "1", "updown", port_attrs(m.name) + (("sonic.lag.name", lag.name),),
                       int(enabled))
    for vlan, members in vlan_members(snap):
        yield "sonic.vlan.members", "{port}", "updown", port_attrs(vlan.name), len(members)
        for m, mode in members:
            attrs = port_attrs(m.name) + (("sonic.vlan.name", vlan.name), ("sonic.vlan.tagging_mode", mode))
            yield "sonic.vlan.member", "1", "updown", attrs, 1


def encode_flows(snapshot: Snapshot, flows: List[FlowRecord]) -> Iterator[ExportLogsServiceRequest]:
    """Log requests of at most LOGS_PER_REQUEST `network.flow` records each."""
    res = resource(snapshot)
    observed = int(snapshot.timestamp * 1e9)
    for start in range(0, len(flows), LOGS_PER_REQUEST):
        request = ExportLogsServiceRequest()
        records = request.resource_logs.add(resource=res).scope_logs.add(scope=SCOPE).log_records
        for f in flows[start:start + LOGS_PER_REQUEST]:
            record = records.add(time_unix_nano=int(f.last_seen * 1e9) or observed,
                                 observed_time_unix_nano=observed, event_name="network.flow")
            add = record.attributes.add
            add(key="source.address").value.string_value = f.src
            add(key="destination.address").value.string_value = f.dst
            add(key="network.transport").value.string_value = transport_name(f.proto)
            add(key="network.type").value.string_value = "ipv6" if ":" in f.src else "ipv4"
            add(key="telegen.flow.packets").value.int_value = f.packets
            add(key="telegen.flow.bytes").value.int_value = f.bytes
            add(key="telegen.flow.estimated_packets").value.int_value = f.estimated_packets
            add(key="telegen.flow.estimated_bytes").value.int_value = f.estimated_bytes
            for key, value in (("source.port", f.sport), ("destination.port", f.dport),
                               ("telegen.flow.dscp", f.dscp), ("telegen.flow.vlan", f.vlan),
                               ("telegen.flow.sample_rate", f.sample_rate), ("telegen.erspan.type", f.erspan_type),
                               ("telegen.mirror.session_id", f.session_id)):
                if value is not None:
                    add(key=key).value.int_value = value
            if f.proto == 6:
                add(key="telegen.flow.tcp_flags").value.int_value = f.tcp_flags
            if f.direction in DIRECTIONS:
                add(key="network.io.direction").value.string_value = DIRECTIONS[f.direction]
            if f.session:
                add(key="telegen.mirror.session").value.string_value = f.session
            if f.source_ports:
                add(key="telegen.mirror.source_ports").value.string_value = ",".join(f.source_ports)
        yield request
