"""COUNTERS_DB read the way sonic-utilities reads it, from a real redis."""
from __future__ import annotations

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
