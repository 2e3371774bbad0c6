"""What the neutral records mean, shared by the Prometheus, OTLP and gNMI encoders."""
from __future__ import annotations

from typing import Dict, List, NamedTuple, Optional, Tuple

from ..records import PortState, ProbeSizeBucket, Snapshot


class CounterMeaning(NamedTuple):
    """A COUNTERS_DB neutral name split into what it measures, its direction and cast."""

    measure: str  # bytes | packets | errors | discards | rate_bytes | rate_packets
    direction: str  # rx | tx
    cast: str = ""  # unicast | multicast | broadcast for packets

    @property
    def is_rate(self) -> bool:
        return self.measure.startswith("rate_")


class SizeHistogram(NamedTuple):
    """The probes' frame-size buckets of one (port, direction) as one histogram."""

    port: str
    direction: str
    bounds: Tuple[int, ...]  # inclusive upper bound (bytes) of every bucket but the last, open-ended one
    counts: Tuple[int, ...]  # frames per bucket, not cumulative: len(bounds) + 1
    sum: Optional[int]  # bytes the probes counted on that (port, direction), all classes; None: unknown


PORT_COUNTERS: Dict[str, CounterMeaning] = {
    "in_octets": CounterMeaning("bytes", "rx"),
    "out_octets": CounterMeaning("bytes", "tx"),
    "in_ucast_pkts": CounterMeaning("packets", "rx", "unicast"),
    "out_ucast_pkts": CounterMeaning("packets", "tx", "unicast"),
    "in_mcast_pkts": CounterMeaning("packets", "rx", "multicast"),
    "out_mcast_pkts": CounterMeaning("packets", "tx", "multicast"),
    "in_bcast_pkts": CounterMeaning("packets", "rx", "broadcast"),
    "out_bcast_pkts": CounterMeaning("packets", "tx", "broadcast"),
    "in_errors": CounterMeaning("errors", "rx"),
    "out_errors": CounterMeaning("errors", "tx"),
    "in_discards": CounterMeaning("discards", "rx"),
    "out_discards": CounterMeaning("discards", "tx"),
    "rx_bps": CounterMeaning("rate_bytes", "rx"),
    "tx_bps": CounterMeaning("rate_bytes", "tx"),
    "rx_pps": CounterMeaning("rate_packets", "rx"),
    "tx_pps": CounterMeaning("rate_packets", "tx"),
}

# QueueCounter names that are gauges (a peak since the last read); the others are counters.
QUEUE_GAUGES = frozenset({"shared_watermark_bytes"})

# IANA protocol numbers -> OTel `network.transport` values (others: the number as text).
TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp"}


def transport_name(proto: int) -> str:
    return TRANSPORTS.get(proto, str(proto))


def size_histograms(snapshot: Snapshot) -> List[SizeHistogram]:
    """Snapshot.probe_sizes grouped per (port, direction), buckets in order; the sum is
    Snapshot.probe_counts' bytes there (every frame counted lands in one class and one bucket)."""
    octets: Dict[Tuple[str, str], int] = {}
    for c in snapshot.probe_counts:
        octets[(c.port, c.direction)] = octets.get((c.port, c.direction), 0) + c.bytes
    groups: Dict[Tuple[str, str], List[ProbeSizeBucket]] = {}
    for b in snapshot.probe_sizes:
        groups.setdefault((b.port, b.direction), []).append(b)
    out = []
    for (port, direction), buckets in groups.items():
        buckets.sort(key=lambda b: b.low)
        bounds = [b.high for b in buckets if b.high is not None]
        counts = [b.packets for b in buckets] + ([0] if buckets[-1].high is not None else [])
        out.append(SizeHistogram(port, direction, tuple(bounds), tuple(counts), octets.get((port, direction))))
    return out


def ports_by_name(snapshot: Snapshot) -> Dict[str, PortState]:
    return {p.name: p for p in snapshot.ports}


def lag_members(snapshot: Snapshot) -> List[Tuple[PortState, List[PortState]]]:
    """Each PortChannel with its member ports (PortState.lag), in snapshot order."""
    lags = {(p.namespace, p.name): (p, []) for p in snapshot.ports if p.kind == "portchannel"}
    for p in snapshot.ports:
        if p.lag and (p.namespace, p.lag) in lags:
            lags[(p.namespace, p.lag)][1].append(p)
    return list(lags.values())


def vlan_members(snapshot: Snapshot) -> List[Tuple[PortState, List[Tuple[PortState, str]]]]:
    """Each VLAN with its members (ports and PortChannels, PortState.vlans) and their tagging mode."""
    vlans = {(p.namespace, p.name): (p, []) for p in snapshot.ports if p.kind == "vlan"}
    for p in snapshot.ports:
        for i, vlan in enumerate(p.vlans):
            if (p.namespace, vlan) in vlans:
                vlans[(p.namespace, vlan)][1].append((p, p.vlan_modes[i] if i < len(p.vlan_modes) else ""))
    return list(vlans.values())


def is_up(status: str) -> Optional[bool]:
    """'up'/'down' (any case) -> True/False; empty or unknown -> None (no sample)."""
    return _flag(status, "up", "down")


def is_enabled(status: str) -> Optional[bool]:
    """A LAG member's 'enabled'/'disabled' -> True/False; empty or unknown -> None (no sample)."""
    return _flag(status, "enabled", "disabled")


def _flag(status: str, yes: str, no: str) -> Optional[bool]:
    status = status.lower()
    return True if status == yes else False if status == no else None
