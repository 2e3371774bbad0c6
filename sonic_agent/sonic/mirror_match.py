"""The model as the mirror decoder's MIRROR_SESSION hook (sonic_agent.mirror.records.SessionLookup).

An encapsulated stream is matched by (outer src, outer dst, GRE protocol); a SPAN frame carries
no such header, so it matches the SPAN session whose dst_port is the capture port, if given.
The port index of an ERSPAN II/III header names a port by CONFIG_DB PORT `index`; it is
trusted when that port is one the session mirrors (in src_port, itself or as a member of a
PortChannel there), or when the session lists none (ACL-driven everflow): a sender that leaves
the index at 0 would otherwise name whichever port has index 0. Every step is a dict lookup.
"""
from __future__ import annotations

from typing import Optional, Tuple

from ..mirror.records import MirrorStream, SessionLookup, SessionMatch
from .entities import MirrorSession
from .model import SwitchModel

# MIRROR_SESSION direction -> the erspan library's flow direction (erspan.flows.DIRECTIONS);
# BOTH says nothing about a single packet.
DIRECTIONS = {"RX": "rx", "TX": "tx"}


def session_lookup(model: SwitchModel, span_port: Optional[str] = None) -> SessionLookup:
    def lookup(stream: MirrorStream) -> Optional[SessionMatch]:
        if stream.outer_src is None and stream.outer_dst is None:
            session = model.span_session_for(span_port) if span_port else None
        else:
            session = model.mirror_session_for_stream(stream.outer_src, stream.outer_dst, stream.gre_proto)
        if session is None:
            return None
        return SessionMatch(session.name, source_ports(model, session, stream.port_index), session.sample_rate,
                            session.status, DIRECTIONS.get(session.direction))
    return lookup


def source_ports(model: SwitchModel, session: MirrorSession, port_index: Optional[int]) -> Tuple[str, ...]:
    """The port the index names when the session mirrors it, else the session's src_port list."""
    port = model.port_by_index(port_index) if port_index is not None else None
    if port is None:
        return session.src_ports
    if not session.src_ports or port.name in session.src_ports:
        return (port.name,)
    lag = model.portchannel_of(port.name)
    return (port.name,) if lag is not None and lag.name in session.src_ports else session.src_ports
