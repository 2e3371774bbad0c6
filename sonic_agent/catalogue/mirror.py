"""The mirror decoder's families: top-K flows, mirror streams (sessions), malformed frames."""
from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import List

from .model import COUNTER, GAUGE, INFO, STATE, Entity, Key, Metric, Source
from .probes import transport_name

FLOW = Entity("flow", lambda s: s.flows, (
    Key("src", "src", prom="src_address"), Key("dst", "dst", prom="dst_address"),
    Key("protocol", "proto", prom="protocol", prom_text=transport_name),
    Key("sport", "sport", prom="src_port"), Key("dport", "dport", prom="dst_port"),
    Key("session", "session", prom="session"), Key("direction", "direction", prom="direction"),
    Key("outer_src", "outer_src", prom="outer_src"), Key("outer_dst", "outer_dst", prom="outer_dst"),
    Key("session_id", "session_id", prom="session_id"), Key("vlan", "vlan", prom="vlan"),
    Key("erspan_type", "erspan_type", prom="erspan_type")),
    help="a top-K mirrored flow of one mirror stream (outer_src: the switch that mirrored it; the decoder keeps "
         "flows of different streams, session ids, VLANs and ERSPAN types apart, and so do the series)")
STREAM = Entity("mirror_stream", lambda s: s.sessions, (  # status is info: a status change is no new series
    Key("session", "session", prom="session", otel="telegen.mirror.session"),
    Key("outer_src", "outer_src", prom="outer_src", otel="telegen.mirror.outer_src"),
    Key("outer_dst", "outer_dst", prom="outer_dst", otel="telegen.mirror.outer_dst"),
    Key("gre_proto", "gre_proto", prom="gre_proto", otel="telegen.mirror.gre_proto"),
    Key("session_id", "session_id", prom="session_id", otel="telegen.mirror.session_id")),
    help="a mirror stream: (outer src, outer dst, GRE protocol, ERSPAN session id) with its MIRROR_SESSION; its "
         "status is telegen_mirror_stream_info")
MALFORMED = Entity("malformed", lambda s: sorted(s.malformed.items()),
                   (Key("reason", itemgetter(0), prom="reason", otel="error.type"),), help="by decoder reason")

FLOW_STATE = ("/telegen/flows/flow[src-address={src}][dst-address={dst}][protocol={protocol}][src-port={sport}]"
              "[dst-port={dport}][session={session}][direction={direction}][outer-src={outer_src}]"
              "[outer-dst={outer_dst}][session-id={session_id}][vlan={vlan}][erspan-type={erspan_type}]/state/")
STREAM_STATE = ("/telegen/mirror-sessions/stream[outer-src={outer_src}][outer-dst={outer_dst}]"
                "[gre-proto={gre_proto}][session-id={session_id}]/state/")


def _flows() -> List[Metric]:
    flow = Source("mirror decoder", "flow table")
    out = [Metric(f"flow.{name}", FLOW, COUNTER, unit, help, flow, attrgetter(name), prom=f"telegen_flow_{prom}",
                  gnmi=FLOW_STATE + name.replace("_", "-")) for name, prom, unit, help in (
        ("packets", "packets", "{packet}", "Packets of a top-K mirrored flow."),
        ("bytes", "bytes", "By", "Bytes of a top-K mirrored flow (IP layer)."),
        ("estimated_packets", "estimated_packets", "{packet}", "Packets a top-K mirrored flow stands for: packets x "
         "the session's sample_rate (raw when not sampled)."),
        ("estimated_bytes", "estimated_bytes", "By", "Bytes a top-K mirrored flow stands for: bytes x the "
         "session's sample_rate."))]
    out += [Metric(f"flow.{name}", FLOW, kind, unit, help, flow, attrgetter(name), gnmi=FLOW_STATE + name.replace("_", "-"))
            for name, kind, unit, help in (
        ("tcp_flags", STATE, "1", "TCP flags seen, ORed (TCP flows)."),
        ("dscp", STATE, "1", "DSCP of the flow's last packet."),
        ("sample_rate", STATE, "1", "MIRROR_SESSION sample_rate."),
        ("first_seen", GAUGE, "s", "When the flow was first seen (Unix seconds)."),
        ("last_seen", GAUGE, "s", "When the flow was last seen (Unix seconds)."))]
    return out


def _streams() -> List[Metric]:
    stream = Source("mirror decoder", "session table")
    out = [Metric(f"mirror.{name}", STREAM, COUNTER, "{packet}", help, stream, attrgetter(attr),
                  prom=f"telegen_mirror_{prom}", otel=f"telegen.mirror.{name}", gnmi=STREAM_STATE + name)
           for name, attr, prom, help in (
        ("packets", "packets", "packets", "Mirrored packets decoded, per mirror stream."),
        ("lost", "lost", "lost_packets", "Mirrored packets lost (ERSPAN/GRE sequence gaps)."),
        ("truncated", "truncated", "truncated_packets", "Mirrored packets truncated by the switch."))]
    out += [Metric("mirror.name", STREAM, INFO, "", "The MIRROR_SESSION the stream belongs to.",
                   Source("CONFIG_DB", "MIRROR_SESSION"), attrgetter("session"), gnmi=STREAM_STATE + "name"),
            Metric("mirror.status", STREAM, INFO, "", "STATE_DB MIRROR_SESSION_TABLE status.",
                   Source("STATE_DB", "MIRROR_SESSION_TABLE", "status"), attrgetter("status"),
                   prom="telegen_mirror_stream_info", info_label="status", gnmi=STREAM_STATE + "status"),
            Metric("mirror.malformed", MALFORMED, COUNTER, "{packet}", "Mirrored packets the decoder rejected, by "
                   "reason.", Source("mirror decoder", "reasons"), itemgetter(1),
                   prom="telegen_mirror_malformed_packets", otel="telegen.mirror.malformed",
                   gnmi="/telegen/mirror-decoder/malformed[reason={reason}]/state/count")]
    return out


def metrics() -> List[Metric]:
    return _streams() + _flows()
