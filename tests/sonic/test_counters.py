"""COUNTERS_DB read the way sonic-utilities reads it, from a real redis."""
from __future__ import annotations

import redis

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.sonic.dbconfig import load_database_config
from sonic_agent.sonic.model import SwitchModel
from tests.sonic.generated import generate_switch, load_switch

COUNTERS_DB = 2


def test_queues_are_named_by_the_port_and_index_maps_not_by_their_names(redis_server):
    """VOQ and system-port platforms name queues their own way: port and index come from
    COUNTERS_QUEUE_PORT_MAP and COUNTERS_QUEUE_INDEX_MAP; a queue they do not place is left out,
    and a field that does not parse leaves only that field out."""
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=2, portchannels=0, vlans=0)
    port_oids = dumps["COUNTERS_DB"]["COUNTERS_PORT_NAME_MAP"]
    dumps["COUNTERS_DB"] = {"COUNTERS_PORT_NAME_MAP": port_oids,
                            "COUNTERS_QUEUE_NAME_MAP": {"sw1|asic0|Ethernet0|7": "oid:0x1501", "odd": "oid:0x1502",
                                                        "Ethernet4:9": "oid:0x1503", "Ethernet0:1": "oid:0x1504"},
                            "COUNTERS_QUEUE_PORT_MAP": {"oid:0x1501": port_oids["Ethernet0"],
                                                        "oid:0x1502": port_oids["Ethernet4"],
                                                        "oid:0x1503": "oid:0x99",  # no such port
                                                        "oid:0x1504": port_oids["Ethernet0"]},
                            "COUNTERS_QUEUE_INDEX_MAP": {"oid:0x1501": "7", "oid:0x1502": "2", "oid:0x1503": "9",
                                                         "oid:0x1504": "N/A"},
                            "COUNTERS_QUEUE_TYPE_MAP": {"oid:0x1501": "SAI_QUEUE_TYPE_UNICAST",
                                                        "oid:0x1502": "SAI_QUEUE_TYPE_MULTICAST"},
                            "COUNTERS:oid:0x1501": {"SAI_QUEUE_STAT_PACKETS": "11", "SAI_QUEUE_STAT_BYTES": "N/A"},
                            "COUNTERS:oid:0x1502": {"SAI_QUEUE_STAT_PACKETS": "22", "SAI_QUEUE_STAT_BYTES": "2200"}}
    load_switch(load_database_config(str(path)), dumps)
    model = SwitchModel.from_paths(str(path))
    model.sync()
    _, queues = model.read_counters(CATALOGUE)
    assert {(q.port, q.queue, q.type): dict(q.values) for q in queues} == {
        ("Ethernet0", 7, "unicast"): {"queue.packets": 11.0},
        ("Ethernet4", 2, "multicast"): {"queue.packets": 22.0, "queue.bytes": 2200.0}}


def test_vlan_mtu_falls_back_to_appl_db_as_port_mtu_does(redis_server):
    """A VLAN without `mtu` in CONFIG_DB takes APPL_DB VLAN_TABLE's, where SONiC fills in the default."""
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=2, portchannels=0, vlans=2)
    dumps["CONFIG_DB"]["VLAN"]["Vlan100"]["mtu"] = "1500"
    dumps["APPL_DB"]["VLAN_TABLE"] = {"Vlan100": {"mtu": "9100"}, "Vlan101": {"mtu": "9216", "admin_status": "up"}}
    load_switch(load_database_config(str(path)), dumps)
    model = SwitchModel.from_paths(str(path))
    model.sync()
    assert {v.name: v.mtu for v in model.vlans()} == {"Vlan100": 1500, "Vlan101": 9216}


def test_hostile_counters_db_costs_only_the_bad_values(redis_server):
    """COUNTERS_DB is input too: a key of the wrong type, bytes that are not UTF-8, NaN, inf,
    negative and absurdly long numbers. Each costs its own value only; every other port and
    field is read in the same tick, and the read is not counted as failed."""
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=3, portchannels=0, vlans=0)
    load_switch(load_database_config(str(path)), dumps)
    oids = dumps["COUNTERS_DB"]["COUNTERS_PORT_NAME_MAP"]
    raw = redis.Redis(unix_socket_path=redis_server.socket, db=COUNTERS_DB)
    raw.delete(f"COUNTERS:{oids['Ethernet4']}")
    raw.rpush(f"COUNTERS:{oids['Ethernet4']}", "not a hash")  # WRONGTYPE for HMGET
    raw.hset(f"COUNTERS:{oids['Ethernet8']}", mapping={
        "SAI_PORT_STAT_IF_IN_OCTETS": b"\xff\xfe12", "SAI_PORT_STAT_IF_OUT_OCTETS": "nan",
        "SAI_PORT_STAT_IF_IN_ERRORS": "inf", "SAI_PORT_STAT_IF_OUT_ERRORS": "-5",
        "SAI_PORT_STAT_IF_IN_DISCARDS": "9" * 100_000, "SAI_PORT_STAT_IF_OUT_DISCARDS": "1e999",
        "SAI_PORT_STAT_IF_IN_UCAST_PKTS": "77"})
    model = SwitchModel.from_paths(str(path))
    model.sync()
    ports, _ = model.read_counters(CATALOGUE)
    values = {p.port: dict(p.values) for p in ports}
    assert values["Ethernet0"]["port.in_octets"] == 0 and values["Ethernet0"]["port.out_ucast_pkts"] == 0
    assert values["Ethernet4"] == {"port.rx_bps": 1500.0}  # its RATES hash is still read
    assert {k: v for k, v in values["Ethernet8"].items() if "_bps" not in k} == {
        "port.in_ucast_pkts": 77, "port.out_ucast_pkts": 2}
    assert model.counter_reads["counters_db_read_errors_total"] == 0
    model.stop()


def test_a_deleted_ports_queues_and_pgs_leave_every_family(redis_server):
    """COUNTERS_DB keeps a deleted port's oids: its counters, queue and PG watermarks are not
    read, the other port's are."""
    from sonic_agent.config import FamiliesConfig
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=1, portchannels=0, vlans=0)
    cdb = dumps["COUNTERS_DB"]
    cdb["COUNTERS_PORT_NAME_MAP"]["Ethernet96"] = "oid:0x96"  # not in CONFIG_DB PORT
    live = cdb["COUNTERS_PORT_NAME_MAP"]["Ethernet0"]
    cdb.update({"COUNTERS:oid:0x96": {"SAI_PORT_STAT_IF_IN_OCTETS": "5"},
                "COUNTERS_PG_NAME_MAP": {"Ethernet0:0": "oid:0x1a00", "Ethernet96:0": "oid:0x1a96"},
                "COUNTERS_PG_PORT_MAP": {"oid:0x1a00": live, "oid:0x1a96": "oid:0x96"},
                "COUNTERS_PG_INDEX_MAP": {"oid:0x1a00": "0", "oid:0x1a96": "0"},
                "USER_WATERMARKS:oid:0x1a00": {"SAI_INGRESS_PRIORITY_GROUP_STAT_SHARED_WATERMARK_BYTES": "10"},
                "USER_WATERMARKS:oid:0x1a96": {"SAI_INGRESS_PRIORITY_GROUP_STAT_SHARED_WATERMARK_BYTES": "96"}})
    load_switch(load_database_config(str(path)), dumps)
    model = SwitchModel.from_paths(str(path))
    model.sync()
    ports, _ = model.read_counters(CATALOGUE)
    settings = {name: getattr(FamiliesConfig(), name) for name in FamiliesConfig.__dataclass_fields__}
    pgs = model.read_families(CATALOGUE, settings)["priority_group"]
    assert [p.port for p in ports] == ["Ethernet0"]
    assert [(r.key, r.values["priority_group.user_shared_watermark"]) for r in pgs] == [(("Ethernet0", "0"), 10)]
    model.stop()
