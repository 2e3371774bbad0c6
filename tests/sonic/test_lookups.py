"""Lookups the rest of the agent uses, keyspace pattern classification, and the backoff."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from sonic_agent.sonic.dbconfig import Database, RedisInstance, load_database_config
from sonic_agent.sonic.follower import backoff_delay
from sonic_agent.sonic.model import SwitchModel
from sonic_agent.sonic.tables import classify, keyspace_patterns
from tests.conftest import wait_until
from tests.sonic.generated import generate_switch, load_switch

INSTANCE = RedisInstance("redis", "127.0.0.1", 6379, None)


@pytest.fixture
def model(redis_server):
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=16, portchannels=2, vlans=4)
    dumps["CONFIG_DB"]["INTERFACE"] = {"Ethernet60": {}, "Ethernet60|fc00::1/126": {}}
    dumps["CONFIG_DB"]["BGP_NEIGHBOR"]["default|fc00::2"] = {"name": "V6PEER", "asn": "65300"}
    dumps["CONFIG_DB"]["MIRROR_SESSION"]["v6"] = {"src_ip": "fc00::1", "dst_ip": "2001:db8::9"}
    load_switch(load_database_config(str(path)), dumps)
    m = SwitchModel.from_paths(str(path))
    m.sync()
    return m


def test_port_lookups(model):
    assert model.port("Ethernet8").alias == "etp3"
    assert model.port("etp3").name == "Ethernet8"
    assert model.port_by_index(2).name == "Ethernet8"
    assert model.port("Ethernet999") is None and model.port_by_index(999) is None
    assert model.portchannel_of("Ethernet4").name == "PortChannel0001"
    assert model.portchannel_of("Ethernet60") is None
    assert [v.name for v in model.vlans_of("PortChannel0002")] == ["Vlan101", "Vlan103"]
    assert [str(a.address) for a in model.addresses_of("PortChannel0002")] == ["10.0.1.0/31"]
    assert model.ifindex("lo") == 1 and model.port_by_ifindex(1) is None  # lo is no SONiC port


def test_resolve_ip(model):
    own = model.resolve_ip("10.0.1.0")
    assert (own.kind, own.name) == ("local", "PortChannel0002")
    peer = model.resolve_ip("10.0.1.1")
    assert (peer.kind, peer.name, peer.interface) == ("bgp_neighbor", "PEER1", "PortChannel0002")
    v6 = model.resolve_ip("FC00:0::2")  # any textual form
    assert (v6.kind, v6.name, v6.interface) == ("bgp_neighbor", "V6PEER", "Ethernet60")
    host = model.resolve_ip("192.168.1.77")
    assert (host.kind, host.interface) == ("connected", "Vlan101")
    assert model.resolve_ip("10.1.0.1").kind == "local"  # the loopback
    assert model.resolve_ip("8.8.8.8") is None and model.resolve_ip("not an ip") is None


def test_mirror_lookups(model):
    assert model.mirror_session_for_stream("10.1.0.1", "10.9.0.1", 0x88BE).name == "everflow"
    mlnx = model.mirror_session_for_stream("10.1.0.1", "10.9.0.1", 0x8949)
    assert (mlnx.name, mlnx.src_ports, mlnx.direction) == ("everflow_mlnx", ("Ethernet60",), "RX")
    assert model.mirror_session_for_stream("10.1.0.1", "10.9.0.1", 0x22EB) is None
    assert model.mirror_session_for_stream("10.9.0.1", "10.1.0.1", 0x88BE) is None
    v6 = model.mirror_session_for_stream("fc00:0:0::1", "2001:DB8::9", 0x88BE)  # gre_type defaults to 0x88be
    assert v6.name == "v6" and v6.type == "ERSPAN" and v6.direction == "BOTH"
    span = model.span_session_for("Ethernet60")
    assert (span.name, span.src_ports, span.direction, span.status) == ("span", ("Ethernet0",), "TX", "inactive")
    assert model.span_session_for("Ethernet0") is None


def test_subscriber_failure_does_not_stop_the_model(redis_server, model):
    seen = []
    model.subscribe(lambda change: 1 / 0)
    unsubscribe = model.subscribe(seen.extend)
    model.start()
    try:
        assert wait_until(lambda: any(c.op == "resync" for c in seen), 5)
        redis_server.client(4).hset("PORT|Ethernet0", "mtu", "1500")
        assert wait_until(lambda: any(c.key == "Ethernet0" for c in seen), 1.0)
        assert model.port("Ethernet0").mtu == 1500
        unsubscribe()
        redis_server.client(4).hset("PORT|Ethernet4", "mtu", "1500")
        assert wait_until(lambda: model.port("Ethernet4").mtu == 1500, 1.0)
        assert not any(c.key == "Ethernet4" for c in seen)
    finally:
        model.stop()


def test_keyspace_patterns_and_classify():
    config = Database("CONFIG_DB", 4, "|", INSTANCE)
    counters = Database("COUNTERS_DB", 2, ":", INSTANCE)
    patterns = keyspace_patterns(config)
    assert "__keyspace@4__:PORT|*" in patterns and "__keyspace@4__:PORTCHANNEL_MEMBER|*" in patterns
    assert keyspace_patterns(counters) == tuple(f"__keyspace@2__:{m}" for m in (
        "COUNTERS_PORT_NAME_MAP", "COUNTERS_LAG_NAME_MAP", "COUNTERS_QUEUE_NAME_MAP", "COUNTERS_QUEUE_PORT_MAP",
        "COUNTERS_QUEUE_INDEX_MAP", "COUNTERS_QUEUE_TYPE_MAP", "COUNTERS_PG_NAME_MAP", "COUNTERS_PG_PORT_MAP",
        "COUNTERS_PG_INDEX_MAP", "COUNTERS_BUFFER_POOL_NAME_MAP", "COUNTERS_TRAP_NAME_MAP"))
    assert classify(config, "PORT|Ethernet0") == ("PORT", "Ethernet0")
    assert classify(config, "PORTCHANNEL_MEMBER|PortChannel1|Ethernet0") == ("PORTCHANNEL_MEMBER", "PortChannel1|Ethernet0")
    assert classify(config, "ACL_TABLE|X") is None and classify(config, "PORT") is None
    assert classify(counters, "COUNTERS_PORT_NAME_MAP") == ("COUNTERS_PORT_NAME_MAP", "")
    assert classify(counters, "COUNTERS:oid:0x1000000000001") is None


@given(failures=st.integers(min_value=1, max_value=10_000), cap=st.floats(min_value=0.2, max_value=60))
def test_backoff_is_capped_and_jittered(failures, cap):
    delay = backoff_delay(failures, cap)
    ceiling = min(cap, 0.1 * 2 ** min(failures, 30))
    assert ceiling / 2 <= delay <= ceiling


def test_backoff_grows_then_caps():
    assert max(backoff_delay(1, 30) for _ in range(100)) <= 0.2
    assert min(backoff_delay(20, 30) for _ in range(100)) >= 15
    assert len({backoff_delay(20, 30) for _ in range(20)}) > 1  # jittered

