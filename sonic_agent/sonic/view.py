"""One namespace's typed entities and lookup indexes, built from a copy of its raw tables.

A view is immutable once built: the store builds a new one after a change, so readers never
see a half-applied update and never take a lock while they look things up.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Dict, List, Mapping, Optional, Tuple

from .entities import (EMPTY, BgpNeighbor, DeviceMetadata, Fields, InterfaceAddress, MirrorSession, Port,
                       PortChannel, Vlan, VlanMember)
from .counters import CounterMaps
from .tables import INTERFACE_TABLES

RawTables = Mapping[Tuple[str, str], Mapping[str, Fields]]  # (db, table) -> {key: fields}


def natural_key(name: str) -> Tuple:
    """Ethernet4 before Ethernet12."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def normalize_ip(text: Optional[str]) -> Optional[str]:
    """The canonical text of an IP address (any textual form, zone dropped), or None."""
    try:
        return str(ipaddress.ip_address(str(text).split("%")[0]))
    except ValueError:
        return None


class NamespaceView:
    """Entities of one namespace (`ports`, `portchannels`, `vlans`, `addresses`, `bgp_neighbors`,
    `mirror_sessions`, `device`, COUNTERS_DB oid maps) and the indexes behind the lookups."""

    def __init__(self, namespace: str, raw: RawTables, separators: Mapping[str, str]):
        self.namespace = namespace
        cfg_sep = separators.get("CONFIG_DB", "|")
        appl_sep = separators.get("APPL_DB", ":")

        def table(db: str, name: str) -> Mapping[str, Fields]:
            return raw.get((db, name), EMPTY)

        def sub_keys(db: str, name: str, sep: str) -> List[Tuple[str, str, Fields]]:
            """(parent, child, fields) for the two-part keys of a table (`PortChannel1|Ethernet0`)."""
            out = []
            for key, fields in table(db, name).items():
                parent, found, child = key.partition(sep)
                if found:
                    out.append((parent, child, fields))
            return out

        self.device = DeviceMetadata.from_fields(table("CONFIG_DB", "DEVICE_METADATA").get("localhost", EMPTY))
        appl_ports, state_ports = table("APPL_DB", "PORT_TABLE"), table("STATE_DB", "PORT_TABLE")
        self.ports: Dict[str, Port] = {
            name: Port.from_fields(name, namespace, cfg, appl_ports.get(name, EMPTY), state_ports.get(name, EMPTY))
            for name, cfg in sorted(table("CONFIG_DB", "PORT").items(), key=lambda kv: natural_key(kv[0]))}

        lag_members: Dict[str, List[str]] = {}
        for lag, member, _ in sub_keys("CONFIG_DB", "PORTCHANNEL_MEMBER", cfg_sep):
            lag_members.setdefault(lag, []).append(member)
        member_status: Dict[str, Dict[str, str]] = {}
        for lag, member, fields in sub_keys("APPL_DB", "LAG_MEMBER_TABLE", appl_sep):
            member_status.setdefault(lag, {})[member] = str(fields.get("status", ""))
        self.portchannels: Dict[str, PortChannel] = {
            name: PortChannel.from_fields(name, namespace, cfg, tuple(sorted(lag_members.get(name, ()), key=natural_key)),
                                          table("APPL_DB", "LAG_TABLE").get(name, EMPTY), member_status.get(name, {}))
            for name, cfg in sorted(table("CONFIG_DB", "PORTCHANNEL").items(), key=lambda kv: natural_key(kv[0]))}

        vlan_members: Dict[str, List[VlanMember]] = {}
        for vlan, port, fields in sub_keys("CONFIG_DB", "VLAN_MEMBER", cfg_sep):
            vlan_members.setdefault(vlan, []).append(VlanMember(port, str(fields.get("tagging_mode", "untagged"))))
        self.vlans: Dict[str, Vlan] = {
            name: Vlan.from_fields(name, namespace, cfg,
                                   tuple(sorted(vlan_members.get(name, ()), key=lambda m: natural_key(m.port))),
                                   table("APPL_DB", "VLAN_TABLE").get(name, EMPTY))
            for name, cfg in sorted(table("CONFIG_DB", "VLAN").items(), key=lambda kv: natural_key(kv[0]))}

        self.addresses: List[InterfaceAddress] = []
        for name in INTERFACE_TABLES:
            for interface, prefix, _ in sub_keys("CONFIG_DB", name, cfg_sep):
                try:
                    address = ipaddress.ip_interface(prefix)
                except ValueError:
                    continue
                self.addresses.append(InterfaceAddress(interface, address, name, namespace))
        self.addresses.sort(key=lambda a: (natural_key(a.interface), a.address.version, a.address))

        self.bgp_neighbors: Dict[str, BgpNeighbor] = {}
        for key, fields in table("CONFIG_DB", "BGP_NEIGHBOR").items():
            neighbor = BgpNeighbor.from_fields(key, cfg_sep, namespace, fields)
            address = normalize_ip(neighbor.address)
            if address:
                self.bgp_neighbors[address] = neighbor

        state_sessions = table("STATE_DB", "MIRROR_SESSION_TABLE")
        self.mirror_sessions: Dict[str, MirrorSession] = {
            name: MirrorSession.from_fields(name, namespace, cfg, state_sessions.get(name, EMPTY))
            for name, cfg in sorted(table("CONFIG_DB", "MIRROR_SESSION").items())}

        def oid_map(name: str) -> Dict[str, str]:
            return _string_map(table("COUNTERS_DB", name).get("", EMPTY))

        self.port_oids = oid_map("COUNTERS_PORT_NAME_MAP")
        self.lag_oids = oid_map("COUNTERS_LAG_NAME_MAP")
        # only the ports CONFIG_DB has: COUNTERS_DB keeps a deleted port's oids, queues and PGs
        known_oids = {name: oid for name, oid in self.port_oids.items() if name in self.ports}
        self.counter_maps = CounterMaps(known_oids, oid_map("COUNTERS_QUEUE_NAME_MAP"),
                                        oid_map("COUNTERS_QUEUE_PORT_MAP"), oid_map("COUNTERS_QUEUE_INDEX_MAP"),
                                        oid_map("COUNTERS_QUEUE_TYPE_MAP"), oid_map("COUNTERS_PG_NAME_MAP"),
                                        oid_map("COUNTERS_PG_PORT_MAP"), oid_map("COUNTERS_PG_INDEX_MAP"),
                                        oid_map("COUNTERS_BUFFER_POOL_NAME_MAP"), oid_map("COUNTERS_TRAP_NAME_MAP"))
        self._index()

    def _index(self) -> None:
        self.by_alias = {p.alias: p for p in self.ports.values() if p.alias}
        self.by_index = {p.index: p for p in self.ports.values() if p.index is not None}
        self.lag_of = {m: lag.name for lag in self.portchannels.values() for m in lag.members}
        self.vlans_of: Dict[str, List[Vlan]] = {}
        for vlan in self.vlans.values():
            for member in vlan.members:
                self.vlans_of.setdefault(member.port, []).append(vlan)
        self.addresses_of: Dict[str, List[InterfaceAddress]] = {}
        self.local_ips: Dict[str, InterfaceAddress] = {}
        for addr in self.addresses:
            self.addresses_of.setdefault(addr.interface, []).append(addr)
            self.local_ips.setdefault(str(addr.address.ip), addr)
        # Longest prefix first, for the connected-subnet lookup.
        self.subnets = sorted((a for a in self.addresses if a.table != "LOOPBACK_INTERFACE"),
                              key=lambda a: -a.address.network.prefixlen)
        self.streams: Dict[Tuple[str, str], List[MirrorSession]] = {}
        self.span_by_dst: Dict[str, MirrorSession] = {}
        for session in self.mirror_sessions.values():
            if session.type == "ERSPAN":
                key = (normalize_ip(session.src_ip) or session.src_ip, normalize_ip(session.dst_ip) or session.dst_ip)
                self.streams.setdefault(key, []).append(session)
            elif session.dst_port:
                self.span_by_dst.setdefault(session.dst_port, session)

    def port(self, name: str) -> Optional[Port]:
        return self.ports.get(name) or self.by_alias.get(name)

    def stream_session(self, src: str, dst: str, gre_proto: Optional[int]) -> Optional[MirrorSession]:
        for session in self.streams.get((src, dst), ()):
            if gre_proto is None or session.gre_type == gre_proto:
                return session
        return None

    def connected(self, address: ipaddress._BaseAddress) -> Optional[InterfaceAddress]:
        for addr in self.subnets:
            if address.version == addr.address.version and address in addr.address.network:
                return addr
        return None


def _string_map(fields: Fields) -> Dict[str, str]:
    return {k: v for k, v in fields.items() if isinstance(v, str)}

