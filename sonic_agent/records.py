"""Neutral records: what sources produce and exporters encode, with no transport in them.

The pipeline (`sonic_agent.pipeline`) assembles a `Snapshot` at export time from the live
SONiC model, the port probes and the mirror decoder; every exporter is a pure function of
a Snapshot (plus a thin transport). Nothing here holds per-label state between exports.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple


@dataclass(frozen=True)
class DeviceInfo:
    """DEVICE_METADATA|localhost, plus the SONiC version when the image states one."""

    hostname: str = ""
    hwsku: str = ""
    platform: str = ""
    mac: str = ""
    asn: str = ""
    sonic_version: str = ""


@dataclass(frozen=True)
class PortState:
    """One port (EthernetN, PortChannelN, VlanN) as the model sees it, with its labels."""

    name: str
    alias: str = ""
    kind: str = "port"  # port | portchannel | vlan | mgmt
    namespace: str = ""
    index: Optional[int] = None
    speed_mbps: Optional[int] = None
    mtu: Optional[int] = None
    admin_status: str = ""
    oper_status: str = ""  # APPL_DB PORT_TABLE oper_status (ASIC link)
    netdev_oper_status: str = ""  # STATE_DB PORT_TABLE netdev_oper_status (kernel)
    description: str = ""
    lag: str = ""  # the PortChannel this port is a member of
    vlans: Tuple[str, ...] = ()
    ifindex: Optional[int] = None
    lag_member_status: str = ""  # APPL_DB LAG_MEMBER_TABLE status in `lag`: enabled | disabled
    vlan_modes: Tuple[str, ...] = ()  # VLAN_MEMBER tagging_mode, one per entry of `vlans`


@dataclass(frozen=True)
class PortCounter:
    """A COUNTERS_DB port counter or rate, under a neutral name.

    name is one of: in_octets, out_octets, in_ucast_pkts, out_ucast_pkts, in_mcast_pkts,
    out_mcast_pkts, in_bcast_pkts, out_bcast_pkts, in_errors, out_errors, in_discards,
    out_discards, rx_bps, tx_bps, rx_pps, tx_pps (rates are gauges, the rest counters).
    """

    port: str
    name: str
    value: float
    namespace: str = ""


@dataclass(frozen=True)
class QueueCounter:
    """A COUNTERS_DB queue counter: name is packets, bytes, dropped_packets, dropped_bytes or
    shared_watermark_bytes (a gauge); kind is unicast, multicast or all."""

    port: str
    queue: int
    kind: str
    name: str
    value: float
    namespace: str = ""


@dataclass(frozen=True)
class ProbeCount:
    """Packets and bytes the port probes counted for one (netdev, direction, class)."""

    port: str
    direction: str  # rx | tx
    klass: str  # bgp, lacp, lldp, arp, nd, ... (see sonic_agent.probes)
    packets: int
    bytes: int


@dataclass(frozen=True)
class SizeHistogram:
    """The frame lengths the port probes counted on one (port, direction), as one histogram
    (log2 buckets: [0, 1], [2, 3], [4, 7], ... and an open-ended last one)."""

    port: str
    direction: str  # rx | tx
    bounds: Tuple[int, ...]  # inclusive upper bound (bytes) of every bucket but the last, open-ended one
    counts: Tuple[int, ...]  # frames per bucket, not cumulative: len(bounds) + 1
    sum: Optional[int]  # bytes the probes counted there, all classes; None: unknown

    @property
    def lows(self) -> Tuple[int, ...]:
        """The inclusive lower bound of every bucket."""
        return (0,) + tuple(b + 1 for b in self.bounds)


@dataclass(frozen=True)
class ProbeTalker:
    """A source sending towards the CPU on a port (IP address, or MAC for non-IP frames);
    counts are estimates: sampled frames x the probes' talker sampling rate."""

    port: str
    src: str
    proto: int  # IP protocol number; 0 for non-IP frames
    klass: str
    packets: int
    bytes: int


@dataclass(frozen=True)
class ProbeDrop:
    """Frames the kernel freed as dropped (skb:kfree_skb) on a port, by drop reason."""

    port: str
    reason: str  # skb_drop_reason, short and lower case: no_socket, ...
    packets: int
    bytes: int


@dataclass(frozen=True)
class FlowRecord:
    """One mirrored flow, correlated to its MIRROR_SESSION where one matches."""

    erspan_type: Optional[int]
    session_id: Optional[int]
    direction: Optional[str]  # rx | tx (ERSPAN III d bit, else the session's direction); None: unknown
    vlan: Optional[int]
    src: str
    dst: str
    proto: int
    sport: Optional[int]
    dport: Optional[int]
    packets: int
    bytes: int
    tcp_flags: int = 0
    dscp: Optional[int] = None
    first_seen: float = 0.0
    last_seen: float = 0.0
    session: str = ""  # MIRROR_SESSION name
    source_ports: Tuple[str, ...] = ()
    sample_rate: Optional[int] = None  # MIRROR_SESSION sample_rate: one mirrored packet stands for this many
    outer_src: str = ""  # the mirror stream (the switch that sent the copies, and where to):
    outer_dst: str = ""  # flows of different streams are different flows, even with one session id

    @property
    def estimated_packets(self) -> int:
        """Packets the mirrored ones stand for: packets x sample_rate (raw when not sampled)."""
        return self.packets * (self.sample_rate or 1)

    @property
    def estimated_bytes(self) -> int:
        return self.bytes * (self.sample_rate or 1)


@dataclass(frozen=True)
class MirrorSessionStats:
    """Per mirror stream: (outer src, outer dst, GRE protocol, session id) -> counts."""

    outer_src: str
    outer_dst: str
    gre_proto: Optional[int]
    session_id: Optional[int]
    packets: int
    lost: int
    truncated: int
    session: str = ""  # MIRROR_SESSION name when correlated
    status: str = ""  # STATE_DB MIRROR_SESSION_TABLE status


@dataclass
class Snapshot:
    """Everything an exporter needs at one instant; built fresh for every export."""

    timestamp: float
    device: DeviceInfo = field(default_factory=DeviceInfo)
    ports: List[PortState] = field(default_factory=list)
    port_counters: List[PortCounter] = field(default_factory=list)
    queue_counters: List[QueueCounter] = field(default_factory=list)
    probe_counts: List[ProbeCount] = field(default_factory=list)
    probe_sizes: List[SizeHistogram] = field(default_factory=list)
    probe_talkers: List[ProbeTalker] = field(default_factory=list)  # already top-N per port
    kernel_drops: List[ProbeDrop] = field(default_factory=list)
    flows: List[FlowRecord] = field(default_factory=list)  # already top-K
    sessions: List[MirrorSessionStats] = field(default_factory=list)
    malformed: Dict[str, int] = field(default_factory=dict)  # mirror decode, by reason
    agent: Dict[str, float] = field(default_factory=dict)  # the agent's own counters (drops, ...)


@dataclass
class ProbeReading:
    """What one read of the port probes gives (each kernel map read once)."""

    counts: List[ProbeCount] = field(default_factory=list)
    sizes: List[SizeHistogram] = field(default_factory=list)
    talkers: List[ProbeTalker] = field(default_factory=list)  # top-N per port
    drops: List[ProbeDrop] = field(default_factory=list)
    counters: Dict[str, float] = field(default_factory=dict)  # the probes' own health, for Snapshot.agent


@dataclass
class MirrorReading:
    """What one read of the mirror source gives (each kernel map or table read once)."""

    flows: List[FlowRecord] = field(default_factory=list)  # top-K
    sessions: List[MirrorSessionStats] = field(default_factory=list)
    malformed: Dict[str, int] = field(default_factory=dict)
    counters: Dict[str, float] = field(default_factory=dict)  # the source's own health, for Snapshot.agent
