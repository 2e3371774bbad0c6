"""A SONiC switch the tests and bench/sonic_model.py generate themselves (no ../shared needed).

`generate_switch(ports, portchannels, vlans)` returns {db name: nested dump}: CONFIG_DB laid out
as /etc/sonic/config_db.json, APPL_DB and STATE_DB PORT_TABLE, COUNTERS_DB maps and counters
(per port, queues 0 and 1 unicast and 2 multicast).
PortChannels take the first 2*portchannels ports (APPL_DB: the LAG up, its first member enabled,
the second disabled); each VLAN has one untagged port (from the rest) and one tagged PortChannel.
"""
from __future__ import annotations

from typing import Dict

from sonic_agent.sonic.dbconfig import DatabaseConfig
from sonic_agent.sonic.encoding import load_dump


def generate_switch(ports: int = 16, portchannels: int = 2, vlans: int = 4) -> Dict[str, dict]:
    names = [f"Ethernet{4 * i}" for i in range(ports)]
    port = {
        name: {"alias": f"etp{i + 1}", "index": str(i), "lanes": ",".join(str(4 * i + n) for n in range(4)),
               "speed": "100000" if i % 2 else "40000", "mtu": "9100", "admin_status": "up" if i % 3 else "down",
               "description": f"peer{i}:eth0", "fec": "rs"}
        for i, name in enumerate(names)}
    lag = {f"PortChannel{j + 1:04d}": names[2 * j:2 * j + 2] for j in range(portchannels)}
    free = names[2 * portchannels:]
    vlan_members = {}
    for k in range(vlans):
        vlan = f"Vlan{100 + k}"
        if free:
            vlan_members[f"{vlan}|{free[k % len(free)]}"] = {"tagging_mode": "untagged"}
        if lag:
            vlan_members[f"{vlan}|{list(lag)[k % len(lag)]}"] = {"tagging_mode": "tagged"}
    config = {
        "DEVICE_METADATA": {"localhost": {"hostname": "gen-switch", "hwsku": "Gen-64x100G", "platform": "x86_64-gen",
                                          "mac": "02:00:00:00:00:01", "bgp_asn": "65100", "type": "LeafRouter"}},
        "PORT": port,
        "PORTCHANNEL": {name: {"members": members, "min_links": "1", "mtu": "9100", "admin_status": "up"}
                        for name, members in lag.items()},
        "PORTCHANNEL_MEMBER": {f"{name}|{m}": {} for name, members in lag.items() for m in members},
        "VLAN": {f"Vlan{100 + k}": {"vlanid": str(100 + k)} for k in range(vlans)},
        "VLAN_MEMBER": vlan_members,
        "PORTCHANNEL_INTERFACE": {**{name: {} for name in lag},
                                  **{f"{name}|10.0.{j}.0/31": {} for j, name in enumerate(lag)}},
        "VLAN_INTERFACE": {f"Vlan{100 + k}|192.168.{k % 256}.{1 + k // 256}/24": {} for k in range(min(vlans, 4))},
        "LOOPBACK_INTERFACE": {"Loopback0": {}, "Loopback0|10.1.0.1/32": {}},
        "BGP_NEIGHBOR": {f"10.0.{j}.1": {"name": f"PEER{j}", "asn": str(65200 + j), "local_addr": f"10.0.{j}.0"}
                         for j in range(len(lag))},
        "MIRROR_SESSION": {
            "everflow": {"type": "ERSPAN", "src_ip": "10.1.0.1", "dst_ip": "10.9.0.1", "gre_type": "0x88be",
                         "dscp": "8", "ttl": "255", "queue": "0", "src_port": ",".join(names[:2]), "direction": "BOTH"},
            "everflow_mlnx": {"type": "ERSPAN", "src_ip": "10.1.0.1", "dst_ip": "10.9.0.1", "gre_type": "0x8949",
                              "src_port": names[-1], "direction": "RX"},
            "span": {"type": "SPAN", "dst_port": names[-1], "src_port": names[0], "direction": "TX"},
        },
    }
    oids = {name: f"oid:0x10000000000{i:04x}" for i, name in enumerate(names)}
    queue_oids = {f"{name}:{q}": f"oid:0x15000000{i:04x}{q:04x}" for i, name in enumerate(names) for q in range(3)}
    return {
        "CONFIG_DB": config,
        "APPL_DB": {"PORT_TABLE": {name: {"oper_status": "up" if i % 2 else "down", "flap_count": str(i),
                                          "admin_status": port[name]["admin_status"]}
                                   for i, name in enumerate(names)},
                    "LAG_TABLE": {name: {"oper_status": "up", "admin_status": "up"} for name in lag},
                    "LAG_MEMBER_TABLE": {f"{name}:{m}": {"status": "disabled" if k else "enabled"}
                                         for name, members in lag.items() for k, m in enumerate(members)}},
        "STATE_DB": {"PORT_TABLE": {name: {"state": "ok", "netdev_oper_status": "up" if i % 2 else "down"}
                                    for i, name in enumerate(names)},
                     "MIRROR_SESSION_TABLE": {"everflow": {"status": "active"}, "span": {"status": "inactive"}}},
        "COUNTERS_DB": {"COUNTERS_PORT_NAME_MAP": oids,
                        **{f"COUNTERS:{oid}": {"SAI_PORT_STAT_IF_IN_OCTETS": str(1000 * i),
                                               "SAI_PORT_STAT_IF_OUT_UCAST_PKTS": str(i)}
                           for i, oid in enumerate(oids.values())},
                        **{f"RATES:{oid}": {"RX_BPS": f"{i}.5e3"} for i, oid in enumerate(oids.values())},
                        "COUNTERS_QUEUE_NAME_MAP": queue_oids,
                        "COUNTERS_QUEUE_PORT_MAP": {oid: oids[name.partition(":")[0]] for name, oid in queue_oids.items()},
                        "COUNTERS_QUEUE_INDEX_MAP": {oid: name.partition(":")[2] for name, oid in queue_oids.items()},
                        "COUNTERS_QUEUE_TYPE_MAP": {oid: "SAI_QUEUE_TYPE_MULTICAST" if name.endswith(":2") else
                                                    "SAI_QUEUE_TYPE_UNICAST" for name, oid in queue_oids.items()},
                        **{f"COUNTERS:{oid}": {"SAI_QUEUE_STAT_PACKETS": str(10 * i), "SAI_QUEUE_STAT_BYTES":
                                               str(640 * i), "SAI_QUEUE_STAT_DROPPED_PACKETS": "1",
                                               "SAI_QUEUE_STAT_SHARED_WATERMARK_BYTES": "4096"}
                           for i, oid in enumerate(queue_oids.values())}},
    }


def load_switch(config: DatabaseConfig, dumps: Dict[str, dict]) -> None:
    """Write each database's dump where `config` says it lives (ids and separators from the file)."""
    for name, dump in dumps.items():
        db = config.db(name)
        load_dump(config.connect(name), dump, db.separator)
