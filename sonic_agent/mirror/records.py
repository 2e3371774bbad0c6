"""Flow and session tables of the `erspan` library as the agent's neutral records.

Correlation to MIRROR_SESSION is a hook: a `lookup` callable given a `MirrorStream` (outer
src/dst, GRE protocol, ERSPAN session id, all None for SPAN frames; and the source port index
an ERSPAN II/III header carries) returns a `SessionMatch` or None. Whoever owns the SONiC
model supplies it; without one, records carry no session name. A flow is looked up with its
own port index, so its `source_ports` can name the port it was mirrored from; its direction
is the ERSPAN III d bit where the header has one, else the session's. Raw counts are kept;
`sample_rate` lets exporters scale them (FlowRecord.estimated_packets, .estimated_bytes).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

from erspan.flows import Flow
from erspan.sessions import Session

from ..records import FlowRecord, MirrorSessionStats


@dataclass(frozen=True)
class MirrorStream:
    outer_src: Optional[str]
    outer_dst: Optional[str]
    gre_proto: Optional[int]
    session_id: Optional[int]
    port_index: Optional[int] = None


@dataclass(frozen=True)
class SessionMatch:
    """What MIRROR_SESSION (CONFIG_DB and STATE_DB) says about a matched stream: the port its
    port index names, else the session's src_port list; rx or tx when the session mirrors one
    direction only (None for BOTH), in the erspan library's vocabulary (erspan.flows.DIRECTIONS)."""

    name: str
    source_ports: Tuple[str, ...] = ()
    sample_rate: Optional[int] = None
    status: str = ""
    direction: Optional[str] = None


SessionLookup = Callable[[MirrorStream], Optional[SessionMatch]]


def no_match(stream: MirrorStream) -> Optional[SessionMatch]:
    return None


def flow_records(flows: Iterable[Flow], lookup: SessionLookup = no_match) -> List[FlowRecord]:
    records = []
    for f in flows:
        match = lookup(MirrorStream(f.outer_src, f.outer_dst, f.gre_proto, f.session_id, f.port_index))
        records.append(FlowRecord(
            erspan_type=f.erspan_type, session_id=f.session_id,
            direction=f.direction or (match.direction if match else None), vlan=f.vlan,
            src=f.src, dst=f.dst, proto=f.proto, sport=f.sport, dport=f.dport, packets=f.packets,
            bytes=f.bytes, tcp_flags=f.tcp_flags or 0, dscp=f.dscp, first_seen=f.first_seen,
            last_seen=f.last_seen, session=match.name if match else "",
            source_ports=match.source_ports if match else (),
            sample_rate=match.sample_rate if match else None,
            outer_src=f.outer_src or "", outer_dst=f.outer_dst or "", gre_proto=f.gre_proto,
            port_index=f.port_index))
    return records


def session_stats(sessions: Iterable[Session], lookup: SessionLookup = no_match) -> List[MirrorSessionStats]:
    records = []
    for s in sessions:
        match = lookup(MirrorStream(s.outer_src, s.outer_dst, s.gre_proto, s.session_id))
        records.append(MirrorSessionStats(
            outer_src=s.outer_src or "", outer_dst=s.outer_dst or "", gre_proto=s.gre_proto,
            session_id=s.session_id, packets=s.packets, lost=s.lost, truncated=s.truncated,
            session=match.name if match else "", status=match.status if match else ""))
    return records
