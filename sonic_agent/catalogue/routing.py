"""Routing and neighbor families: BGP neighbors, BFD sessions, LLDP neighbors, routes, FDB."""
from __future__ import annotations

import ipaddress
from collections import Counter
from typing import List, Optional, Tuple

from ..records import Row
from .model import INFO, STATE, Entity, Key, Metric, Source, Table
from .switch import port_key
from .tables import field_metric, flag, number, part, split_key, table_entity

BGP_STATE = table_entity("bgp_state", Table("bgp", "STATE_DB", "NEIGH_STATE_TABLE", key=lambda rest: (
    tuple(rest.split("|", 1)) if "|" in rest else ("default", rest))),
    (Key("vrf", part(0)), Key("neighbor", part(1))), "a BGP session's state (bgpcfgd)")


def _address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.split("%")[0]))
    except ValueError:
        return text


def bgp_neighbors(snap) -> List[Tuple[str, str, str, str, str, str]]:
    """(vrf, address, name, asn, state, namespace) of every configured neighbor (state "" until
    STATE_DB has one) and of every session STATE_DB has without CONFIG_DB (dynamic peers)."""
    state = {(r.namespace, r.key[0], _address(r.key[1])): str(r.values.get("bgp.state", ""))
             for r in snap.families.get("bgp_state", ())}
    out = []
    for peer in snap.bgp_peers:
        key = (peer.namespace, peer.vrf, _address(peer.address))
        out.append((key[1], key[2], peer.name, peer.asn, state.pop(key, ""), peer.namespace))
    out += [(vrf, address, "", "", s, namespace) for (namespace, vrf, address), s in state.items()]
    return out


BGP = Entity("bgp_neighbor", bgp_neighbors, (
    Key("vrf", lambda r: r[0], prom="vrf", otel="sonic.vrf"),
    Key("neighbor", lambda r: r[1], prom="neighbor", otel="network.peer.address"),
    Key("namespace", lambda r: r[5], prom="namespace", otel="sonic.namespace")),
    help="a BGP neighbor: CONFIG_DB BGP_NEIGHBOR joined with STATE_DB NEIGH_STATE_TABLE")
BFD = table_entity("bfd_session", Table("bfd", "STATE_DB", "BFD_SESSION_TABLE", key=split_key(3)), (
    Key("vrf", part(0), prom="vrf", otel="sonic.vrf"), Key("interface", part(1), prom="interface", otel="network.interface.name"),
    Key("peer", part(2), prom="peer", otel="network.peer.address")), "a BFD session (STATE_DB BFD_SESSION_TABLE)")
LLDP = table_entity("lldp_neighbor", Table("lldp", "APPL_DB", "LLDP_ENTRY_TABLE"), (port_key(part(0)),),
                    "the LLDP neighbor on a port (APPL_DB LLDP_ENTRY_TABLE)")


def _route_counts(entries, namespace: str) -> List[Row]:
    """ROUTE_TABLE:<prefix> or ROUTE_TABLE:<vrf>:<prefix> keys counted per (vrf, family)."""
    counts: Counter = Counter()
    for rest, _ in entries:
        vrf, prefix = ("default", rest)
        if rest.startswith("Vrf") and ":" in rest:
            vrf, _, prefix = rest.partition(":")
        counts[(vrf, "ipv6" if ":" in prefix else "ipv4")] += 1
    return [Row(key, {"routes.count": n}, namespace) for key, n in sorted(counts.items())]


def _fdb_counts(entries, namespace: str) -> List[Row]:
    """FDB_TABLE|<vlan>:<mac> entries counted per (vlan, port, type)."""
    counts: Counter = Counter()
    for rest, fields in entries:
        vlan = rest.split(":", 1)[0]
        counts[(vlan, str(fields.get("port", "")), str(fields.get("type", "")))] += 1
    return [Row(key, {"fdb.entries": n}, namespace) for key, n in sorted(counts.items())]


def _neighbor_counts(entries, namespace: str) -> List[Row]:
    """NEIGH_TABLE:<interface>:<ip> keys counted per (interface, family)."""
    counts: Counter = Counter()
    for rest, _ in entries:
        interface, _, ip = rest.partition(":")
        counts[(interface, "ipv6" if ":" in ip else "ipv4")] += 1
    return [Row(key, {"neighbors.count": n}, namespace) for key, n in sorted(counts.items())]


NEIGHBORS = table_entity("neighbors", Table("routes", "APPL_DB", "NEIGH_TABLE", keys_only=True, rows=_neighbor_counts),
                         (port_key(part(0)), Key("family", part(1), prom="family", otel="network.type")),
                         "IP neighbors (ARP/ND) per interface and family (APPL_DB NEIGH_TABLE keys, counted)")
SWITCH = table_entity("switch", Table("routes", "APPL_DB", "SWITCH_TABLE"),
                      (Key("switch", part(0), prom="switch", otel="sonic.switch"),), "the ASIC's switch settings")
LLDP_LOCAL = table_entity("lldp_local", Table("lldp", "APPL_DB", "LLDP_LOC_CHASSIS", key=lambda rest: (), whole=True),
                          (), "the switch's own LLDP chassis (lldpd)")
ROUTES = table_entity("routes", Table("routes", "APPL_DB", "ROUTE_TABLE", keys_only=True, rows=_route_counts),
                      (Key("vrf", part(0), prom="vrf", otel="sonic.vrf"),
                       Key("family", part(1), prom="family", otel="network.type")),
                      "routes per VRF and address family (APPL_DB ROUTE_TABLE keys, counted up to max_entries)")
FDB = table_entity("fdb", Table("fdb", "STATE_DB", "FDB_TABLE", rows=_fdb_counts),
                   (Key("vlan", part(0), prom="vlan", otel="sonic.vlan.name"), port_key(part(1)),
                    Key("type", part(2), prom="type", otel="sonic.fdb.type")),
                   "FDB entries per VLAN, port and type (STATE_DB FDB_TABLE, counted up to max_entries)")

BGP_PATH = ("/network-instances/network-instance[name={vrf}]/protocols/protocol[identifier=BGP][name=bgp]/bgp/"
            "neighbors/neighbor[neighbor-address={neighbor}]/state/")


def _established(state: str) -> Optional[int]:
    return 1 if state.lower() == "established" else 0


def metrics() -> List[Metric]:
    bgp_source = Source("STATE_DB", "NEIGH_STATE_TABLE", "state")
    bfd = "/telegen/bfd/sessions/session[vrf={vrf}][interface={interface}][peer={peer}]/state/"
    lldp = "/lldp/interfaces/interface[name={port}]/neighbors/neighbor[id={port}]/state/"
    out = [
        field_metric("bgp.state", BGP_STATE, INFO, "", "A BGP session's state as bgpcfgd writes it.", "state"),
        Metric("bgp.established", BGP, STATE, "1", "1 if the BGP session is Established (STATE_DB NEIGH_STATE_TABLE; "
               "0 for a configured neighbor without a state).", bgp_source, lambda r: _established(r[4]),
               prom="sonic_bgp_neighbor_established", otel="sonic.bgp.neighbor.established"),
        Metric("bgp.name", BGP, INFO, "", "A BGP neighbor with its CONFIG_DB name and ASN and its session state.",
               Source("CONFIG_DB", "BGP_NEIGHBOR", "name"), lambda r: r[2], prom="sonic_bgp_neighbor_info",
               info_label="name", gnmi=BGP_PATH + "description"),
        Metric("bgp.asn", BGP, INFO, "", "", Source("CONFIG_DB", "BGP_NEIGHBOR", "asn"), lambda r: r[3],
               prom="sonic_bgp_neighbor_info", info_label="asn", gnmi=BGP_PATH + "peer-as"),
        Metric("bgp.session_state", BGP, INFO, "", "", bgp_source, lambda r: r[4].upper(),
               prom="sonic_bgp_neighbor_info", info_label="state", gnmi=BGP_PATH + "session-state"),
        field_metric("bfd.up", BFD, STATE, "1", "1 if the BFD session is Up.", "state",
                     parse=lambda t, f: {"up": 1, "down": 0, "admin_down": 0, "init": 0}.get(str(t).lower()),
                     prom="sonic_bfd_session_up", otel="sonic.bfd.session.up", gnmi=bfd + "up"),
        field_metric("bfd.state", BFD, INFO, "", "A BFD session with its state and local address.", "state",
                     prom="sonic_bfd_session_info", info_label="state", gnmi=bfd + "state"),
        field_metric("bfd.local_addr", BFD, INFO, "", "", "local_addr", prom="sonic_bfd_session_info",
                     info_label="local_address", gnmi=bfd + "local-address"),
    ]
    out += [field_metric(f"lldp.{name}", LLDP, INFO, "", "The LLDP neighbor on a port (lldpd via APPL_DB).", field,
                         prom="sonic_lldp_neighbor_info", info_label=label, gnmi=lldp + leaf)
            for name, field, label, leaf in (
        ("system_name", "lldp_rem_sys_name", "remote_system_name", "system-name"),
        ("port_id", "lldp_rem_port_id", "remote_port_id", "port-id"),
        ("port_desc", "lldp_rem_port_desc", "remote_port_description", "port-description"),
        ("chassis_id", "lldp_rem_chassis_id", "remote_chassis_id", "chassis-id"),
        ("management_address", "lldp_rem_man_addr", "remote_management_address", "management-address"))]
    out += [
        Metric("routes.count", ROUTES, STATE, "{route}", "Routes per VRF and family (APPL_DB ROUTE_TABLE).",
               Source("APPL_DB", "ROUTE_TABLE"), lambda r: r.values.get("routes.count"), prom="sonic_routes",
               otel="sonic.routes", gnmi="/telegen/routes/vrf[name={vrf}]/family[name={family}]/state/count"),
        Metric("neighbors.count", NEIGHBORS, STATE, "{neighbor}", "IP neighbors per interface and family (APPL_DB "
               "NEIGH_TABLE).", Source("APPL_DB", "NEIGH_TABLE"), lambda r: r.values.get("neighbors.count"),
               prom="sonic_neighbors", otel="sonic.neighbors",
               gnmi="/telegen/neighbors/interface[name={port}]/family[name={family}]/state/count"),
        Metric("fdb.entries", FDB, STATE, "{entry}", "FDB entries per VLAN, port and type (STATE_DB FDB_TABLE).",
               Source("STATE_DB", "FDB_TABLE", "port"), lambda r: r.values.get("fdb.entries"), prom="sonic_fdb_entries",
               otel="sonic.fdb.entries", gnmi="/telegen/fdb/vlan[name={vlan}]/port[name={port}]/type[name={type}]/state/count"),
    ]
    switch = "/telegen/switch[name={switch}]/state/"
    out += [field_metric(f"switch.{field}", SWITCH, STATE, unit, help, field, parse=parse, prom=f"sonic_switch_{prom}",
                         gnmi=switch + field.replace("_", "-"))
            for field, unit, parse, prom, help in (
        ("fdb_aging_time", "s", number, "fdb_aging_time_seconds", "FDB aging time (APPL_DB SWITCH_TABLE)."),
        ("ecmp_hash_seed", "1", number, "ecmp_hash_seed", "ECMP hash seed."),
        ("ecmp_hash_offset", "1", number, "ecmp_hash_offset", "ECMP hash offset."),
        ("lag_hash_seed", "1", number, "lag_hash_seed", "LAG hash seed."),
        ("lag_hash_offset", "1", number, "lag_hash_offset", "LAG hash offset."),
        ("ordered_ecmp", "1", flag, "ordered_ecmp", "1 if ordered ECMP is on."))]
    out += [field_metric(f"lldp_local.{name}", LLDP_LOCAL, INFO, "", "The switch's own LLDP chassis (APPL_DB "
                         "LLDP_LOC_CHASSIS).", field, prom="sonic_lldp_local_chassis_info", info_label=name,
                         gnmi=f"/lldp/state/{leaf}")
            for name, field, leaf in (("system_name", "lldp_loc_sys_name", "system-name"),
                                      ("chassis_id", "lldp_loc_chassis_id", "chassis-id"))]
    return out
