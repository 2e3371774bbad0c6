"""Neutral records: what sources produce and exporters encode, with no transport in them.

The pipeline (`sonic_agent.pipeline`) assembles one `Snapshot` per tick from the live SONiC
model, COUNTERS_DB, the port probes and the mirror decoder; every exporter is a pure function
of a Snapshot (plus a thin transport), driven by the catalogue (`sonic_agent.catalogue`).
Nothing here holds per-label state between ticks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Tuple, TypeVar

T = TypeVar("T")


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
    ifindex: Optional[int] = None


@dataclass(frozen=True)
class LagMember:
    port: str
    status: str = ""  # APPL_DB LAG_MEMBER_TABLE status: enabled | disabled; "" unknown


@dataclass(frozen=True)
class LagState:
    """A PortChannel with its member ports (CONFIG_DB PORTCHANNEL_MEMBER)."""

    name: str
    namespace: str = ""
    members: Tuple[LagMember, ...] = ()


@dataclass(frozen=True)
class VlanMember:
    port: str  # a port or a PortChannel
    tagging_mode: str = ""  # CONFIG_DB VLAN_MEMBER tagging_mode: tagged | untagged


@dataclass(frozen=True)
class VlanState:
    """A VLAN with its members (CONFIG_DB VLAN_MEMBER)."""

    name: str
    namespace: str = ""
    members: Tuple[VlanMember, ...] = ()


@dataclass(frozen=True)
class BgpPeer:
    """A configured BGP neighbor (CONFIG_DB BGP_NEIGHBOR)."""

    address: str
    vrf: str = "default"
    name: str = ""
    asn: str = ""
    namespace: str = ""
    interface: str = ""  # the local port, PortChannel or VLAN it is reached through ("" unknown)


@dataclass(frozen=True)
class PortCounters:
    """One port's COUNTERS_DB counters and rates, by catalogue metric name (sonic_agent.catalogue);
    a field the platform does not have, or that does not parse, is absent."""

    port: str
    values: Mapping[str, float]
    namespace: str = ""


@dataclass(frozen=True)
class QueueCounters:
    """One egress queue's COUNTERS_DB counters, by catalogue metric name; port and index from
    COUNTERS_QUEUE_PORT_MAP / COUNTERS_QUEUE_INDEX_MAP, type unicast | multicast | all."""

    port: str
    queue: int
    type: str
    values: Mapping[str, float]
    namespace: str = ""


@dataclass(frozen=True)
class Row:
    """One entry of a SONiC state table (or a count made of one), for a catalogue table entity:
    its key parts and its parsed values by catalogue metric name (sonic_agent.sonic.families)."""

    key: Tuple[str, ...]
    values: Mapping[str, object]
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
    gre_proto: Optional[int] = None
    port_index: Optional[int] = None  # the source port index the ERSPAN II/III header carries

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


@dataclass(frozen=True)
class Snapshot:
    """Everything the exporters encode, read at one instant: the pipeline builds one per tick and
    every consumer (each scrape, OTLP export and gNMI stream) shares it. Never changed once built
    (derive another with dataclasses.replace); what encoders compute from it is kept in `derived`."""

    timestamp: float
    seq: int = 0  # the tick that built it (0: not built by the pipeline)
    device: DeviceInfo = field(default_factory=DeviceInfo)
    ports: List[PortState] = field(default_factory=list)  # ports, then PortChannels, then VLANs
    lags: List[LagState] = field(default_factory=list)
    vlans: List[VlanState] = field(default_factory=list)
    bgp_peers: List[BgpPeer] = field(default_factory=list)
    port_counters: List[PortCounters] = field(default_factory=list)
    queue_counters: List[QueueCounters] = field(default_factory=list)
    probe_counts: List[ProbeCount] = field(default_factory=list)
    probe_sizes: List[SizeHistogram] = field(default_factory=list)
    probe_talkers: List[ProbeTalker] = field(default_factory=list)  # already top-N per port
    kernel_drops: List[ProbeDrop] = field(default_factory=list)
    flows: List[FlowRecord] = field(default_factory=list)  # already top-K
    # the flows of the mirror streams jobs watch (sonic_agent.jobs), from the same read, bounded
    watched_flows: List[FlowRecord] = field(default_factory=list)
    sessions: List[MirrorSessionStats] = field(default_factory=list)
    malformed: Dict[str, int] = field(default_factory=dict)  # mirror decode, by reason
    agent: Dict[str, float] = field(default_factory=dict)  # the agent's own counters (catalogue.agent)
    families: Mapping[str, List[Row]] = field(default_factory=dict)  # table entity name -> rows
    _derived: Dict[object, object] = field(default_factory=dict, init=False, repr=False, compare=False)

    def derived(self, key: object, build: Callable[[], T]) -> T:
        """What `build()` gives, computed once per Snapshot and shared by its readers (a race
        computes it twice, harmlessly)."""
        try:
            return self._derived[key]  # type: ignore[return-value]
        except KeyError:
            value = self._derived[key] = build()
            return value


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
    watched_flows: List[FlowRecord] = field(default_factory=list)
