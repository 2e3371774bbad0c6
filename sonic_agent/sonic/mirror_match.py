"""The model as the mirror decoder's MIRROR_SESSION hook (sonic_agent.mirror.records.SessionLookup).

An encapsulated stream is matched by (outer src, outer dst, GRE protocol); a SPAN frame carries
no such header, so it matches the SPAN session whose dst_port is the capture port, if given.
"""
from __future__ import annotations

from typing import Optional

from ..mirror.records import MirrorStream, SessionLookup, SessionMatch
from .model import SwitchModel


def session_lookup(model: SwitchModel, span_port: Optional[str] = None) -> SessionLookup:
    def lookup(stream: MirrorStream) -> Optional[SessionMatch]:
        if stream.outer_src is None and stream.outer_dst is None:
            session = model.span_session_for(span_port) if span_port else None
        else:
            session = model.mirror_session_for_stream(stream.outer_src, stream.outer_dst, stream.gre_proto)
        if session is None:
            return None
        return SessionMatch(session.name, session.src_ports, session.sample_rate, session.status)
    return lookup
