"""Correlation of decoded mirror flows to MIRROR_SESSION through the live model (real redis):
session match, ERSPAN port index -> port, direction fallback, sample_rate estimates."""
from __future__ import annotations

import pytest
from scapy.contrib.erspan import ERSPAN_PlatformSpecific

from erspan import MirrorCollector
from sonic_agent.mirror.records import MirrorStream, flow_records, session_stats
from sonic_agent.sonic.dbconfig import load_database_config
from sonic_agent.sonic.mirror_match import session_lookup
from sonic_agent.sonic.model import SwitchModel
from tests.conftest import wait_until
from tests.erspan.craft import erspan2, erspan3, inner_frame
from tests.sonic.generated import generate_switch, load_switch

# generate_switch: Ethernet0..Ethernet60 with PORT index 0..15; PortChannel0002 = Ethernet8, Ethernet12.
SESSIONS = {
    "sampled": {"type": "ERSPAN", "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "gre_type": "0x88be",
                "src_port": "Ethernet16,PortChannel0002", "direction": "RX", "sample_rate": "100"},
    "v3": {"type": "ERSPAN", "src_ip": "10.0.0.1", "dst_ip": "10.0.0.2", "gre_type": "0x22eb",
           "src_port": "Ethernet20", "direction": "RX"},
    "acl": {"type": "ERSPAN", "src_ip": "10.0.0.1", "dst_ip": "10.0.0.3"},  # no src_port: ACL-driven
}


@pytest.fixture
def model(redis_server):
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=16, portchannels=2, vlans=4)
    dumps["CONFIG_DB"]["MIRROR_SESSION"].update(SESSIONS)
    dumps["STATE_DB"]["MIRROR_SESSION_TABLE"]["sampled"] = {"status": "active"}
    load_switch(load_database_config(str(path)), dumps)
    m = SwitchModel.from_paths(str(path))
    m.sync()
    return m


def decoded_flows():
    """One flow per case, told apart by ERSPAN session id."""
    collector = MirrorCollector()
    collector.add_packets([
        erspan2(session_id=1, index=4), erspan2(session_id=1, index=4, seq=2),  # Ethernet16, mirrored
        erspan2(session_id=2, index=3),  # Ethernet12: a member of PortChannel0002, mirrored
        erspan2(session_id=3, index=0),  # Ethernet0: not one the session mirrors
        erspan2(session_id=4, index=999),  # no such PORT index
        erspan3(session_id=5, direction=1, platform=ERSPAN_PlatformSpecific(platf_id=3, info1=5)),  # Ethernet20
        erspan2(session_id=6, index=7, outer=dict(src="10.0.0.1", dst="10.0.0.3")),  # Ethernet28, ACL session
        erspan2(session_id=7, outer=dict(src="10.0.0.9", dst="10.0.0.2")),  # no MIRROR_SESSION
    ])
    return collector


def test_flows_carry_session_port_direction_and_estimates(model):
    records = {r.session_id: r for r in flow_records(decoded_flows().flows(), session_lookup(model))}
    mirrored = records[1]
    assert (mirrored.session, mirrored.source_ports, mirrored.direction) == ("sampled", ("Ethernet16",), "rx")
    assert (mirrored.packets, mirrored.sample_rate, mirrored.estimated_packets) == (2, 100, 200)
    assert mirrored.estimated_bytes == 100 * mirrored.bytes > 0
    assert records[2].source_ports == ("Ethernet12",)
    assert records[3].source_ports == records[4].source_ports == ("Ethernet16", "PortChannel0002")
    v3 = records[5]
    assert (v3.session, v3.source_ports, v3.direction) == ("v3", ("Ethernet20",), "tx")  # d bit over RX
    assert (v3.sample_rate, v3.estimated_packets, v3.estimated_bytes) == (None, 1, v3.bytes)  # raw
    acl = records[6]
    assert (acl.session, acl.source_ports, acl.direction) == ("acl", ("Ethernet28",), None)  # BOTH: unknown
    assert (records[7].session, records[7].source_ports, records[7].direction) == ("", (), None)


def test_span_flows_take_the_span_session(model):
    collector = MirrorCollector(span=True)
    collector.add_packets([bytes(inner_frame())] * 3)
    (flow,) = flow_records(collector.flows(), session_lookup(model, span_port="Ethernet60"))
    assert (flow.session, flow.source_ports, flow.direction, flow.estimated_packets) == ("span", ("Ethernet0",),
                                                                                         "tx", 3)
    (unmatched,) = flow_records(collector.flows(), session_lookup(model))
    assert (unmatched.session, unmatched.direction) == ("", None)


def test_session_stats_and_stream_matching(model):
    stats = {s.session_id: s for s in session_stats(decoded_flows().sessions(), session_lookup(model))}
    assert (stats[1].session, stats[1].status, stats[1].packets) == ("sampled", "active", 2)
    assert (stats[5].session, stats[7].session) == ("v3", "")
    lookup = session_lookup(model, span_port="Ethernet60")
    match = lookup(MirrorStream("10.1.0.1", "10.9.0.1", 0x88BE, 5))
    assert (match.name, match.source_ports, match.status, match.direction) == (
        "everflow", ("Ethernet0", "Ethernet4"), "active", None)
    assert lookup(MirrorStream("10.1.0.1", "10.9.0.1", 0x6558, None)) is None
    assert lookup(MirrorStream(None, None, None, None)).name == "span"
    assert session_lookup(model)(MirrorStream(None, None, None, None)) is None


def test_lookup_reads_the_live_session(redis_server, model):
    """sample_rate and direction as CONFIG_DB has them now, not as they were at start."""
    lookup = session_lookup(model)
    stream = MirrorStream("10.0.0.1", "10.0.0.2", 0x88BE, 1, 4)
    model.start()
    try:
        assert model.wait_synced(5)
        redis_server.client(4).hset("MIRROR_SESSION|sampled", mapping={"sample_rate": "10", "direction": "TX"})
        assert wait_until(lambda: lookup(stream).sample_rate == 10, 2), lookup(stream)
        assert lookup(stream).direction == "tx"
        redis_server.client(4).hdel("MIRROR_SESSION|sampled", "sample_rate")
        assert wait_until(lambda: lookup(stream).sample_rate is None, 2)
    finally:
        model.stop()
