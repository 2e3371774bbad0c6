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


def generate_platform(ports: int = 16) -> Dict[str, dict]:
    """Every family's tables for a generated switch of `ports` ports: a transceiver on each port
    (4 lanes, 8 thresholds, 8 flags), 2 PSUs, 4 fans, 3 sensors, a BGP session per port, LLDP
    neighbors, CRM, 8 priority groups per port with their watermarks, 10 traps, 12 containers,
    50 processes. Flat dumps, {db name: {"TABLE<sep>key": fields}}, for load_switch."""
    names = [f"Ethernet{4 * i}" for i in range(ports)]
    state, appl, counters = {}, {}, {}
    for i, port in enumerate(names):
        state[f"TRANSCEIVER_INFO|{port}"] = {"type": "QSFP28 or later", "manufacturer": "Gen", "model": "GEN-SR4",
                                             "serial": f"G{i:06d}", "vendor_rev": "A"}
        dom = {"temperature": f"{30 + i * 0.1:.2f}", "voltage": "3.30"}
        for lane in range(1, 5):
            dom.update({f"rx{lane}power": "-1.5", f"tx{lane}power": "-0.5", f"tx{lane}bias": "6.5"})
        state[f"TRANSCEIVER_DOM_SENSOR|{port}"] = dom
        state[f"TRANSCEIVER_DOM_THRESHOLD|{port}"] = {f"{m}{lim}": "1.0" for m in ("temp", "vcc", "rxpower", "txbias")
                                                     for lim in ("highalarm", "lowalarm")}
        state[f"TRANSCEIVER_STATUS_FLAG|{port}"] = {f"rx{lane}los": "False" for lane in range(1, 5)} | {
            f"tx{lane}fault": "False" for lane in range(1, 5)}
        state[f"NEIGH_STATE_TABLE|10.9.{i // 250}.{i % 250}"] = {"state": "Established" if i % 4 else "Idle"}
        appl[f"LLDP_ENTRY_TABLE:{port}"] = {"lldp_rem_sys_name": f"peer{i}", "lldp_rem_port_id": "eth0",
                                            "lldp_rem_chassis_id": f"02:00:00:00:{i // 256:02x}:{i % 256:02x}"}
        for pg in range(8):
            oid = f"oid:0x1a00000{i:04x}{pg:04x}"
            counters.setdefault("COUNTERS_PG_NAME_MAP", {})[f"{port}:{pg}"] = oid
            counters.setdefault("COUNTERS_PG_PORT_MAP", {})[oid] = f"oid:0x10000000000{i:04x}"
            counters.setdefault("COUNTERS_PG_INDEX_MAP", {})[oid] = str(pg)
            for table in ("USER_WATERMARKS", "PERSISTENT_WATERMARKS"):
                counters[f"{table}:{oid}"] = {"SAI_INGRESS_PRIORITY_GROUP_STAT_SHARED_WATERMARK_BYTES": str(pg * 100),
                                              "SAI_INGRESS_PRIORITY_GROUP_STAT_XOFF_ROOM_WATERMARK_BYTES": "0"}
    for n in (1, 2):
        state[f"PSU_INFO|PSU {n}"] = {"presence": "true", "status": "true", "voltage": "12.1", "current": "8",
                                      "power": "96.8", "temp": "N/A", "model": "GEN-PSU", "serial": f"P{n}"}
    for n in range(1, 5):
        state[f"FAN_INFO|fan{n}"] = {"presence": "True", "status": "True", "speed": "40", "speed_target": "40",
                                     "direction": "intake", "drawer_name": f"drawer{n}"}
    for name in ("CPU", "ASIC", "Ambient"):
        state[f"TEMPERATURE_INFO|{name}"] = {"temperature": "40.5", "high_threshold": "85", "warning_status": "False"}
    state["SYSTEM_READY|SYSTEM_STATE"] = {"Status": "UP"}
    counters["CRM:STATS"] = {f"crm_stats_{r}_{m}": "100" for r in ("ipv4_route", "ipv6_route", "ipv4_nexthop",
                                                                   "ipv6_nexthop", "ipv4_neighbor", "ipv6_neighbor",
                                                                   "nexthop_group", "fdb_entry") for m in ("used", "available")}
    counters["COUNTERS_TRAP_NAME_MAP"] = {t: f"oid:0x2200000000{k:03x}" for k, t in enumerate(
        ("bgp", "bgpv6", "lacp", "lldp", "arp_req", "arp_resp", "neigh_discovery", "dhcp", "dhcpv6", "bfd"))}
    for k, oid in enumerate(counters["COUNTERS_TRAP_NAME_MAP"].values()):
        counters[f"COUNTERS:{oid}"] = {"SAI_COUNTER_STAT_PACKETS": str(1000 * k), "SAI_COUNTER_STAT_BYTES": str(64000 * k)}
    for k in range(12):
        state[f"DOCKER_STATS|{k:012x}"] = {"NAME": f"container{k}", "CPU%": "1.5", "MEM_BYTES": "104857600",
                                           "MEM_LIMIT_BYTES": "4294967296", "PIDS": "12"}
    for pid in range(1000, 1050):
        state[f"PROCESS_STATS|{pid}"] = {"%CPU": "0.5", "%MEM": "0.3", "CMD": f"/usr/bin/daemon{pid}"}
    return {"STATE_DB": state, "APPL_DB": appl, "COUNTERS_DB": counters}


def generated_agent(redis_server, dumps: Dict[str, dict], tick_s: float = 1.0):
    """An AgentConfig for a switch of `dumps` loaded into the test's `redis_server`: probes and
    mirror off (no root needed), Prometheus on a free loopback port; tests set the rest."""
    from sonic_agent.config import AgentConfig, PrometheusConfig
    from sonic_agent.sonic.dbconfig import load_database_config
    path = redis_server.write_database_config()
    load_switch(load_database_config(str(path)), dumps)
    cfg = AgentConfig(tick_s=tick_s)
    cfg.sonic.database_config = str(path)
    cfg.sonic.database_global = str(redis_server.dir / "absent.json")
    cfg.probes.enabled = cfg.mirror.enabled = False
    cfg.export.prometheus = PrometheusConfig(listen="127.0.0.1:0")
    return cfg
