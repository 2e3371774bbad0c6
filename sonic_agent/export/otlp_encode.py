"""Pure encoders: a Snapshot -> OTLP ExportMetricsServiceRequest, flows -> ExportLogsServiceRequest.

Metrics come from the catalogue (its OTel names, units and attributes; README lists them):
a counter is a monotonic Sum, a gauge a Gauge, a state an up-down (non-monotonic) Sum, a
histogram a Histogram; info texts are not metrics here. Port keys carry
`network.interface.name` plus `sonic.port.alias` and `sonic.namespace` when set; attributes
whose value is empty are left out.

Resource: `host.name` (DEVICE_METADATA hostname), `sonic.hwsku`, `sonic.platform`,
`os.name`=SONiC and `os.version` (the SONiC version) when present, `service.name`.

Flows: one log record each, `event_name` `network.flow`, attributes `source.address`,
`destination.address`, `source.port`, `destination.port`, `network.transport`,
`network.type`, `network.io.direction`, `telegen.flow.packets`, `telegen.flow.bytes`,
`telegen.flow.estimated_packets`, `telegen.flow.estimated_bytes` (raw x the session's
sample_rate; raw when not sampled), and
when known `telegen.flow.tcp_flags`, `.dscp`, `.vlan`, `.sample_rate`, `telegen.mirror.session`,
`.session_id`, `.source_ports`, `.outer_src`, `.outer_dst` (the mirror stream), `telegen.erspan.type`,
and `telegen.job.id` for a mirror job's flows; the record's time is the flow's last_seen. Requests carry at most `LOGS_PER_REQUEST` records (a collector's default gRPC
receive limit is 4 MiB).

SLO events (sonic_agent.slo): one log record each, `event_name` its event (`slo.budget.threshold`,
`slo.burn_rate.alert`), severity WARN, body a one-line summary, attributes `telegen.slo.<field>`
for each of the event's fields (burn rates as `telegen.slo.burn_rate.<window>`).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, Iterator, List, Optional, Tuple

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from .. import __version__
from ..catalogue import CATALOGUE, COUNTER, GAUGE, HISTOGRAM, STATE, Catalogue, Metric
from ..catalogue.probes import transport_name
from ..records import FlowRecord, Snapshot

LOGS_PER_REQUEST = 2000
CUMULATIVE = metrics_pb2.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = metrics_pb2.AGGREGATION_TEMPORALITY_DELTA
SCOPE = InstrumentationScope(name="telegen-sonic", version=__version__)
DIRECTIONS = {"rx": "receive", "tx": "transmit"}
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
        self.evictions = 0  # series forgotten by the bound (their next point starts a new delta)

    def delta(self, key: tuple, value, now_ns: int) -> Optional[Tuple[object, int]]:
        """(increase since the last export, its start time); None the first time a series is seen.
        A value is a number or a tuple of numbers (a histogram's counts and sum), taken elementwise."""
        previous = self._last.pop(key, None)
        self._last[key] = (value, now_ns)
        if len(self._last) > self._max:
            self._last.popitem(last=False)
            self.evictions += 1
        if previous is None:
            return None
        last_value, last_ns = previous
        if isinstance(value, tuple):
            reset = len(value) != len(last_value) or any(v < last for v, last in zip(value, last_value))
            return (value if reset else tuple(v - last for v, last in zip(value, last_value))), last_ns
        return (value - last_value if value >= last_value else value), last_ns  # a reset restarts


class MetricsEncoder:
    """Snapshot -> ExportMetricsServiceRequest; keeps only DeltaState (when delta) between calls."""

    def __init__(self, temporality: str, start_time: float, max_series: int = 100_000,
                 catalogue: Catalogue = CATALOGUE):
        self.delta = DeltaState(max_series) if temporality == "delta" else None
        self.start_ns = int(start_time * 1e9)
        self.catalogue = catalogue

    def encode(self, snapshot: Snapshot) -> Tuple[ExportMetricsServiceRequest, int]:
        """The request and how many data points it carries."""
        now_ns = int(snapshot.timestamp * 1e9)
        ports = {}
        for p in snapshot.ports:  # by (namespace, name), and by name for keys without a namespace: the first
            ports[(p.namespace, p.name)] = p
            ports.setdefault(p.name, p)
        metrics: Dict[str, metrics_pb2.Metric] = {}
        points = 0
        for m in self.catalogue:
            if not m.otel or m.kind not in _KINDS:
                continue
            metric = metrics.get(m.otel)
            if metric is None:
                metric = metrics[m.otel] = metrics_pb2.Metric(name=m.otel, unit=m.unit, description=m.help)
                self._init_kind(metric, m.kind)
            container = getattr(metric, _KINDS[m.kind])
            for key, value in m.points(snapshot):
                attrs = _attributes(m, key, ports)
                start = 0 if m.kind == GAUGE else self.start_ns
                totals = (*value.counts, value.sum or 0) if m.kind == HISTOGRAM else value
                if m.kind in (COUNTER, HISTOGRAM) and self.delta is not None:
                    step = self.delta.delta((m.otel, attrs), totals, now_ns)
                    if step is None:
                        continue
                    totals, start = step
                point = container.data_points.add(start_time_unix_nano=start, time_unix_nano=now_ns)
                if m.kind == HISTOGRAM:
                    point.explicit_bounds.extend(value.bounds)
                    point.bucket_counts.extend(totals[:-1])
                    point.count = sum(totals[:-1])
                    if value.sum is not None:
                        point.sum = float(totals[-1])
                elif m.kind == GAUGE:
                    point.as_double = float(totals)
                elif isinstance(totals, int):
                    point.as_int = totals
                else:  # a counter SONiC writes with a fraction (rare): a double, never cut
                    point.as_double = float(totals)
                point.attributes.extend(key_values(attrs))
                points += 1
        request = ExportMetricsServiceRequest()
        rm = request.resource_metrics.add(resource=resource(snapshot))
        rm.scope_metrics.add(scope=SCOPE).metrics.extend(
            m for m in metrics.values() if getattr(m, m.WhichOneof("data")).data_points)
        return request, points

    def _init_kind(self, metric: metrics_pb2.Metric, kind: str) -> None:
        if kind == GAUGE:
            metric.gauge.SetInParent()
        elif kind == HISTOGRAM:
            metric.histogram.aggregation_temporality = DELTA if self.delta is not None else CUMULATIVE
        elif kind == STATE:
            metric.sum.is_monotonic = False
            metric.sum.aggregation_temporality = CUMULATIVE
        else:
            metric.sum.is_monotonic = True
            metric.sum.aggregation_temporality = DELTA if self.delta is not None else CUMULATIVE


_KINDS = {COUNTER: "sum", STATE: "sum", GAUGE: "gauge", HISTOGRAM: "histogram"}  # catalogue kind -> OTLP data


def _attributes(m: Metric, key: tuple, ports) -> Attrs:
    """The point's attributes: its keys' (a port's with alias and namespace), then the fixed
    ones of its entity and metric; empty values left out."""
    attrs = []
    ns = m.entity.namespace_index
    for k, value in zip(m.entity.keys, key):
        if not k.otel:
            continue
        attrs.append((k.otel, k.otel_value(value)))
        if k.port:
            p = ports.get(value if ns is None else (key[ns], value))
            if p is not None:
                attrs += [("sonic.port.alias", p.alias), ("sonic.namespace", p.namespace)]
    attrs += m.entity.otel_attrs + m.otel_attrs
    return tuple((k, v) for k, v in attrs if v not in ("", None))


def encode_flows(snapshot: Snapshot, flows: List[FlowRecord], job_id: str = "") -> Iterator[ExportLogsServiceRequest]:
    """Log requests of at most LOGS_PER_REQUEST `network.flow` records each; a job's flows
    carry `telegen.job.id`."""
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
            for key, text in (("telegen.mirror.outer_src", f.outer_src), ("telegen.mirror.outer_dst", f.outer_dst),
                              ("telegen.job.id", job_id)):
                if text:
                    add(key=key).value.string_value = text
        yield request


def encode_events(snapshot: Snapshot, events) -> ExportLogsServiceRequest:
    """One request of the SLO engine's events (dicts: event, slo, time, ... ; sonic_agent.slo.engine)."""
    request = ExportLogsServiceRequest()
    records = request.resource_logs.add(resource=resource(snapshot)).scope_logs.add(scope=SCOPE).log_records
    now = int(snapshot.timestamp * 1e9)
    for event in events:
        record = records.add(time_unix_nano=now, observed_time_unix_nano=now, event_name=event["event"],
                             severity_number=13, severity_text="WARN")
        record.body.string_value = (f"{event['slo']}: {event['event']} {event.get('policy') or event.get('alert')} "
                                    f"(budget remaining {event['remaining']:.3f})")
        attrs = [(f"telegen.slo.{k}" if k != "slo" else "telegen.slo.name", v) for k, v in event.items()
                 if k not in ("event", "burn_rates")]
        attrs += [(f"telegen.slo.burn_rate.{w}", float(r)) for w, r in event.get("burn_rates", {}).items()]
        record.attributes.extend(key_values(tuple(attrs)))
    return request
