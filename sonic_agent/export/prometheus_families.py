"""Pure encoder: a Snapshot -> Prometheus metric families, under a cap on series.

Metrics reference (every port series carries `port`, `alias`, `namespace`):

| metric | type | labels |
| --- | --- | --- |
| `sonic_device_info` | gauge 1 | hostname, hwsku, platform, sonic_version |
| `sonic_port_info` | gauge 1 | + kind, lag, description |
| `sonic_port_admin_up`, `sonic_port_oper_up`, `sonic_port_netdev_oper_up` | gauge 0/1 | |
| `sonic_port_speed_bytes_per_second`, `sonic_port_mtu_bytes` | gauge | |
| `sonic_port_bytes_total`, `sonic_port_errors_total`, `sonic_port_discards_total` | counter | + direction (rx, tx) |
| `sonic_port_packets_total` | counter | + direction, cast (unicast, multicast, broadcast) |
| `sonic_port_rate_bytes_per_second`, `sonic_port_rate_packets_per_second` | gauge | + direction |
| `sonic_lag_members` | gauge | port = the PortChannel: its member ports |
| `sonic_lag_member_enabled` | gauge 0/1 | port = the member, + lag (APPL_DB LAG_MEMBER_TABLE status) |
| `sonic_vlan_members` | gauge | port = the VLAN: its members |
| `sonic_vlan_member_info` | gauge 1 | port = the member, + vlan, tagging_mode |
| `sonic_queue_packets_total`, `sonic_queue_bytes_total`, `sonic_queue_dropped_packets_total`, `sonic_queue_dropped_bytes_total` | counter | + queue, type (unicast, multicast, all) |
| `sonic_queue_shared_watermark_bytes` | gauge | + queue, type |
| `telegen_probe_packets_total`, `telegen_probe_bytes_total` | counter | + direction, class |
| `telegen_probe_packet_size_bytes` | histogram (`_bucket`, `_count`, `_sum`) | + direction; le = 1, 3, 7, ... 32767, +Inf (log2 buckets); `_sum` = the probes' bytes there |
| `telegen_probe_talker_packets_total`, `telegen_probe_talker_bytes_total` | counter | + source, protocol, class: sampled estimates, top 10 sources towards the CPU per port |
| `telegen_kernel_drops_total`, `telegen_kernel_drop_bytes_total` | counter | + reason (skb_drop_reason: no_socket, ...), when the kernel offers tp_btf/kfree_skb |
| `telegen_flow_packets_total`, `telegen_flow_bytes_total` | counter | src_address, dst_address, protocol, src_port, dst_port, session, direction (top-K flows only) |
| `telegen_flow_estimated_packets_total`, `telegen_flow_estimated_bytes_total` | counter | the same: raw x the session's sample_rate (raw when not sampled) |
| `telegen_mirror_packets_total`, `telegen_mirror_lost_packets_total`, `telegen_mirror_truncated_packets_total` | counter | session, status, outer_src, outer_dst, gre_proto, session_id |
| `telegen_mirror_malformed_packets_total` | counter | reason |
| `telegen_agent_<name>` (`_total` kept for counters) | gauge or counter | from Snapshot.agent |
| `telegen_prometheus_series_cut_total` | counter | series left out by `max_series` |

PortChannels and VLANs are ports too (kind portchannel, vlan in `sonic_port_info`), so their
admin and oper status are `sonic_port_admin_up` and `sonic_port_oper_up`. Families come out
in that order and the cap cuts from the end, so port state survives a flood of flows; a
histogram is cut whole, never bucket by bucket.
COUNTERS_DB names outside the table above come out as `sonic_port_<name>_total`.
"""
from __future__ import annotations

import re
from itertools import accumulate
from typing import Dict, Iterator, List

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from ..records import PortState, Snapshot
from .schema import (PORT_COUNTERS, QUEUE_GAUGES, is_enabled, is_up, lag_members, ports_by_name, size_histograms,
                     transport_name, vlan_members)

PORT_LABELS = ["port", "alias", "namespace"]
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


class SeriesBudget:
    """How many more samples may come out; counts the ones refused."""

    def __init__(self, limit: int):
        self.left = limit
        self.cut = 0

    def take(self, samples: int = 1) -> bool:
        """Room for `samples` more (a histogram comes out whole or not at all)?"""
        if self.left >= samples:
            self.left -= samples
            return True
        self.cut += samples
        return False


def snapshot_families(snapshot: Snapshot, budget: SeriesBudget) -> List[Metric]:
    """Every family for one Snapshot; samples past the budget are counted, not emitted."""
    out: List[Metric] = []
    for encode in (_device, _port_state, _port_counters, _memberships, _queues, _probes, _probe_sizes,
                   _probe_talkers, _kernel_drops, _sessions, _flows, _agent):
        out.extend(encode(snapshot, budget))
    return [f for f in out if f.samples]


def _add(family: Metric, budget: SeriesBudget, labels: List[str], value: float) -> None:
    if budget.take():
        family.add_metric(labels, value)


def _device(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    d = snap.device
    fam = GaugeMetricFamily("sonic_device_info", "The switch (DEVICE_METADATA|localhost).",
                            labels=["hostname", "hwsku", "platform", "sonic_version"])
    _add(fam, budget, [d.hostname, d.hwsku, d.platform, d.sonic_version], 1)
    yield fam


def _port_state(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    info = GaugeMetricFamily("sonic_port_info", "A port the model knows, with its labels.",
                             labels=PORT_LABELS + ["kind", "lag", "description"])
    ups = {attr: GaugeMetricFamily(f"sonic_port_{name}_up", text, labels=PORT_LABELS) for attr, name, text in (
        ("admin_status", "admin", "1 if the port is admin up (CONFIG_DB)."),
        ("oper_status", "oper", "1 if the ASIC link is up (APPL_DB PORT_TABLE oper_status)."),
        ("netdev_oper_status", "netdev_oper", "1 if the kernel netdev is up (STATE_DB)."))}
    speed = GaugeMetricFamily("sonic_port_speed_bytes_per_second", "Configured port speed.",
                              labels=PORT_LABELS)
    mtu = GaugeMetricFamily("sonic_port_mtu_bytes", "Configured MTU.", labels=PORT_LABELS)
    for p in snap.ports:
        labels = [p.name, p.alias, p.namespace]
        _add(info, budget, labels + [p.kind, p.lag, p.description], 1)
        for attr, fam in ups.items():
            up = is_up(getattr(p, attr))
            if up is not None:
                _add(fam, budget, labels, 1 if up else 0)
        if p.speed_mbps is not None:
            _add(speed, budget, labels, p.speed_mbps * 1e6 / 8)
        if p.mtu is not None:
            _add(mtu, budget, labels, p.mtu)
    yield info
    yield from ups.values()
    yield speed
    yield mtu


_COUNTER_FAMILIES = {
    "bytes": ("sonic_port_bytes", "Bytes through the port (COUNTERS_DB IF_IN/OUT_OCTETS)."),
    "packets": ("sonic_port_packets", "Packets through the port by cast (COUNTERS_DB)."),
    "errors": ("sonic_port_errors", "Errored packets (COUNTERS_DB IF_IN/OUT_ERRORS)."),
    "discards": ("sonic_port_discards", "Discarded packets (COUNTERS_DB IF_IN/OUT_DISCARDS)."),
    "rate_bytes": ("sonic_port_rate_bytes_per_second", "Byte rate (COUNTERS_DB RATES)."),
    "rate_packets": ("sonic_port_rate_packets_per_second", "Packet rate (COUNTERS_DB RATES)."),
}


def _port_counters(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    ports = ports_by_name(snap)
    families: Dict[str, Metric] = {}
    for c in snap.port_counters:
        p = ports.get(c.port)
        labels = [c.port, p.alias if p else "", c.namespace]
        meaning = PORT_COUNTERS.get(c.name)
        key = meaning.measure if meaning else c.name
        fam = families.get(key)
        if fam is None:
            fam = families[key] = _counter_family(key, meaning is not None and meaning.is_rate)
        if meaning is not None:
            labels.append(meaning.direction)
            if meaning.measure == "packets":
                labels.append(meaning.cast)
        _add(fam, budget, labels, c.value)
    yield from families.values()


def _counter_family(key: str, is_rate: bool) -> Metric:
    if key not in _COUNTER_FAMILIES:
        name = "sonic_port_" + _UNSAFE.sub("_", key)
        return CounterMetricFamily(name, f"COUNTERS_DB {key}.", labels=PORT_LABELS)
    name, text = _COUNTER_FAMILIES[key]
    labels = PORT_LABELS + ["direction"] + (["cast"] if key == "packets" else [])
    cls = GaugeMetricFamily if is_rate else CounterMetricFamily
    return cls(name, text, labels=labels)


def _memberships(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    lags = GaugeMetricFamily("sonic_lag_members", "Member ports of a PortChannel (CONFIG_DB).", labels=PORT_LABELS)
    enabled = GaugeMetricFamily("sonic_lag_member_enabled", "1 if a PortChannel member is enabled (APPL_DB "
                                "LAG_MEMBER_TABLE status).", labels=PORT_LABELS + ["lag"])
    for lag, members in lag_members(snap):
        _add(lags, budget, [lag.name, lag.alias, lag.namespace], len(members))
        for m in members:
            on = is_enabled(m.lag_member_status)
            if on is not None:
                _add(enabled, budget, [m.name, m.alias, m.namespace, lag.name], 1 if on else 0)
    vlans = GaugeMetricFamily("sonic_vlan_members", "Members of a VLAN (CONFIG_DB VLAN_MEMBER).", labels=PORT_LABELS)
    info = GaugeMetricFamily("sonic_vlan_member_info", "A VLAN member with its tagging mode (CONFIG_DB VLAN_MEMBER).",
                             labels=PORT_LABELS + ["vlan", "tagging_mode"])
    for vlan, members in vlan_members(snap):
        _add(vlans, budget, [vlan.name, vlan.alias, vlan.namespace], len(members))
        for m, mode in members:
            _add(info, budget, [m.name, m.alias, m.namespace, vlan.name, mode], 1)
    yield from (lags, enabled, vlans, info)


_QUEUE_HELP = {
    "packets": "Packets through an egress queue (COUNTERS_DB SAI_QUEUE_STAT_PACKETS).",
    "bytes": "Bytes through an egress queue (SAI_QUEUE_STAT_BYTES).",
    "dropped_packets": "Packets an egress queue dropped (SAI_QUEUE_STAT_DROPPED_PACKETS).",
    "dropped_bytes": "Bytes an egress queue dropped (SAI_QUEUE_STAT_DROPPED_BYTES).",
    "shared_watermark_bytes": "Peak shared-buffer use of an egress queue since the last read "
                              "(SAI_QUEUE_STAT_SHARED_WATERMARK_BYTES).",
}


def _queues(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    ports = ports_by_name(snap)
    families: Dict[str, Metric] = {}
    for q in snap.queue_counters:
        fam = families.get(q.name)
        if fam is None:
            cls = GaugeMetricFamily if q.name in QUEUE_GAUGES else CounterMetricFamily
            fam = families[q.name] = cls("sonic_queue_" + _UNSAFE.sub("_", q.name),
                                         _QUEUE_HELP.get(q.name, f"COUNTERS_DB queue {q.name}."),
                                         labels=PORT_LABELS + ["queue", "type"])
        p = ports.get(q.port)
        _add(fam, budget, [q.port, p.alias if p else "", q.namespace, str(q.queue), q.kind], q.value)
    yield from families.values()


def _probes(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    ports = ports_by_name(snap)
    labels = PORT_LABELS + ["direction", "class"]
    packets = CounterMetricFamily("telegen_probe_packets", "Packets the port probes counted, by class.",
                                  labels=labels)
    octets = CounterMetricFamily("telegen_probe_bytes", "Bytes the port probes counted, by class.",
                                 labels=labels)
    for c in snap.probe_counts:
        values = _port_labels(ports, c.port) + [c.direction, c.klass]
        _add(packets, budget, values, c.packets)
        _add(octets, budget, values, c.bytes)
    yield packets
    yield octets


def _port_labels(ports: Dict[str, PortState], name: str) -> List[str]:
    p = ports.get(name)
    return [name, p.alias if p else "", p.namespace if p else ""]


def _probe_sizes(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    ports = ports_by_name(snap)
    fam = HistogramMetricFamily("telegen_probe_packet_size_bytes", "Frame lengths the port probes counted (log2 "
                                "buckets); _sum is the bytes they counted there.", labels=PORT_LABELS + ["direction"])
    les: Dict[tuple, List[str]] = {}  # every histogram has the same bounds: format them once
    for h in size_histograms(snap):
        le = les.get(h.bounds) or les.setdefault(h.bounds, [*map(floatToGoString, h.bounds), "+Inf"])
        buckets = list(zip(le, accumulate(h.counts)))
        if budget.take(len(buckets) + (2 if h.sum is not None else 0)):
            fam.add_metric(_port_labels(ports, h.port) + [h.direction], buckets, h.sum)
    yield fam


def _probe_talkers(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    ports = ports_by_name(snap)
    labels = PORT_LABELS + ["source", "protocol", "class"]
    packets = CounterMetricFamily("telegen_probe_talker_packets", "Packets a top source sent towards the CPU on a "
                                  "port: a sampled estimate (sampled frames x the sampling rate).", labels=labels)
    octets = CounterMetricFamily("telegen_probe_talker_bytes", "Bytes a top source sent towards the CPU on a port: "
                                 "a sampled estimate (sampled frames x the sampling rate).", labels=labels)
    for t in snap.probe_talkers:
        values = _port_labels(ports, t.port) + [t.src, transport_name(t.proto), t.klass]
        _add(packets, budget, values, t.packets)
        _add(octets, budget, values, t.bytes)
    yield packets
    yield octets


def _kernel_drops(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    ports = ports_by_name(snap)
    labels = PORT_LABELS + ["reason"]
    packets = CounterMetricFamily("telegen_kernel_drops", "Frames the kernel dropped on a port (skb:kfree_skb), "
                                  "by drop reason.", labels=labels)
    octets = CounterMetricFamily("telegen_kernel_drop_bytes", "Bytes of the frames the kernel dropped on a port, "
                                 "by drop reason.", labels=labels)
    for d in snap.kernel_drops:
        values = _port_labels(ports, d.port) + [d.reason]
        _add(packets, budget, values, d.packets)
        _add(octets, budget, values, d.bytes)
    yield packets
    yield octets


def _sessions(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    labels = ["session", "status", "outer_src", "outer_dst", "gre_proto", "session_id"]
    families = [CounterMetricFamily(f"telegen_mirror_{name}", text, labels=labels) for name, text in (
        ("packets", "Mirrored packets decoded, per mirror stream."),
        ("lost_packets", "Mirrored packets lost (ERSPAN sequence gaps)."),
        ("truncated_packets", "Mirrored packets truncated by the switch."))]
    for s in snap.sessions:
        values = [s.session, s.status, s.outer_src, s.outer_dst, _text(s.gre_proto), _text(s.session_id)]
        for fam, value in zip(families, (s.packets, s.lost, s.truncated)):
            _add(fam, budget, values, value)
    yield from families
    malformed = CounterMetricFamily("telegen_mirror_malformed_packets", "Mirrored packets the decoder "
                                    "rejected, by reason.", labels=["reason"])
    for reason, count in sorted(snap.malformed.items()):
        _add(malformed, budget, [reason], count)
    yield malformed


def _flows(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    labels = ["src_address", "dst_address", "protocol", "src_port", "dst_port", "session", "direction"]
    packets = CounterMetricFamily("telegen_flow_packets", "Packets of a top-K mirrored flow.", labels=labels)
    octets = CounterMetricFamily("telegen_flow_bytes", "Bytes of a top-K mirrored flow.", labels=labels)
    estimated_packets = CounterMetricFamily("telegen_flow_estimated_packets", "Packets a top-K mirrored flow "
                                            "stands for: packets x the session's sample_rate.", labels=labels)
    estimated_octets = CounterMetricFamily("telegen_flow_estimated_bytes", "Bytes a top-K mirrored flow "
                                           "stands for: bytes x the session's sample_rate.", labels=labels)
    for f in snap.flows:
        values = [f.src, f.dst, transport_name(f.proto), _text(f.sport), _text(f.dport), f.session,
                  f.direction or ""]
        _add(packets, budget, values, f.packets)
        _add(octets, budget, values, f.bytes)
        _add(estimated_packets, budget, values, f.estimated_packets)
        _add(estimated_octets, budget, values, f.estimated_bytes)
    yield from (packets, octets, estimated_packets, estimated_octets)


def _agent(snap: Snapshot, budget: SeriesBudget) -> Iterator[Metric]:
    for key, value in sorted(snap.agent.items()):
        name = "telegen_agent_" + _UNSAFE.sub("_", key)
        if name.endswith("_total"):
            fam: Metric = CounterMetricFamily(name[:-len("_total")], f"Agent counter {key}.")
        else:
            fam = GaugeMetricFamily(name, f"Agent value {key}.")
        _add(fam, budget, [], value)
        yield fam


def _text(value) -> str:
    return "" if value is None else str(value)

