"""Typed SONiC entities, decoded once from the raw redis hashes at the boundary.

Each `from_fields` takes the decoded fields of the tables that describe the entity (CONFIG_DB
first, then APPL_DB/STATE_DB) and never raises on odd values: a number that does not parse
becomes None, a missing field its SONiC default.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Tuple, Union

Fields = Mapping[str, Union[str, List[str]]]
EMPTY: Fields = {}
ERSPAN_GRE_DEFAULT = 0x88BE


def to_int(value: object, base: int = 10) -> Optional[int]:
    try:
        return int(str(value), base)
    except (TypeError, ValueError):
        return None


def as_list(value: object) -> Tuple[str, ...]:
    """A `name@` list or a comma-joined string (both appear in real dumps) as a tuple."""
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value if v != "")
    return tuple(v.strip() for v in str(value or "").split(",") if v.strip())


@dataclass(frozen=True)
class DeviceMetadata:
    """CONFIG_DB DEVICE_METADATA|localhost."""

    hostname: str = ""
    hwsku: str = ""
    platform: str = ""
    mac: str = ""
    asn: str = ""
    type: str = ""

    @classmethod
    def from_fields(cls, cfg: Fields) -> "DeviceMetadata":
        return cls(str(cfg.get("hostname", "")), str(cfg.get("hwsku", "")), str(cfg.get("platform", "")),
                   str(cfg.get("mac", "")), str(cfg.get("bgp_asn", "")), str(cfg.get("type", "")))


@dataclass(frozen=True)
class Port:
    """CONFIG_DB PORT|name, with oper_status and flap_count from APPL_DB PORT_TABLE and the
    kernel netdev's oper status from STATE_DB PORT_TABLE."""

    name: str
    namespace: str = ""
    alias: str = ""
    index: Optional[int] = None
    lanes: Tuple[int, ...] = ()
    speed_mbps: Optional[int] = None
    mtu: Optional[int] = None
    admin_status: str = "down"
    description: str = ""
    fec: str = ""
    oper_status: str = ""
    netdev_oper_status: str = ""
    flap_count: Optional[int] = None

    @classmethod
    def from_fields(cls, name: str, namespace: str, cfg: Fields, appl: Fields, state: Fields) -> "Port":
        lanes = tuple(n for n in (to_int(v) for v in as_list(cfg.get("lanes"))) if n is not None)
        return cls(
            name=name, namespace=namespace, alias=str(cfg.get("alias", "")), index=to_int(cfg.get("index")),
            lanes=lanes, speed_mbps=to_int(cfg.get("speed", appl.get("speed"))),
            mtu=to_int(cfg.get("mtu", appl.get("mtu"))), admin_status=str(cfg.get("admin_status", "down")),
            description=str(cfg.get("description", "")), fec=str(cfg.get("fec", appl.get("fec", ""))),
            oper_status=str(appl.get("oper_status", "")),
            netdev_oper_status=str(state.get("netdev_oper_status", "")),
            flap_count=to_int(appl.get("flap_count")))


@dataclass(frozen=True)
class PortChannel:
    """CONFIG_DB PORTCHANNEL|name; members from PORTCHANNEL_MEMBER (or `members@`), oper status
    from APPL_DB LAG_TABLE and each member's status from APPL_DB LAG_MEMBER_TABLE."""

    name: str
    namespace: str = ""
    members: Tuple[str, ...] = ()
    min_links: Optional[int] = None
    mtu: Optional[int] = None
    admin_status: str = "up"
    oper_status: str = ""
    member_status: Dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_fields(cls, name: str, namespace: str, cfg: Fields, members: Tuple[str, ...], appl: Fields,
                    member_status: Dict[str, str]) -> "PortChannel":
        return cls(name=name, namespace=namespace, members=members or as_list(cfg.get("members")),
                   min_links=to_int(cfg.get("min_links")), mtu=to_int(cfg.get("mtu")),
                   admin_status=str(cfg.get("admin_status", "up")), oper_status=str(appl.get("oper_status", "")),
                   member_status=member_status)


@dataclass(frozen=True)
class VlanMember:
    port: str
    tagging_mode: str = "untagged"


@dataclass(frozen=True)
class Vlan:
    """CONFIG_DB VLAN|VlanN with its VLAN_MEMBER|VlanN|port entries (mtu falling back to APPL_DB
    VLAN_TABLE)."""

    name: str
    namespace: str = ""
    vlanid: Optional[int] = None
    members: Tuple[VlanMember, ...] = ()
    admin_status: str = "up"
    mtu: Optional[int] = None
    description: str = ""

    @classmethod
    def from_fields(cls, name: str, namespace: str, cfg: Fields, members: Tuple[VlanMember, ...],
                    appl: Fields = EMPTY) -> "Vlan":
        """MTU from CONFIG_DB, else APPL_DB VLAN_TABLE (as for ports: SONiC fills in the default there)."""
        vlanid = to_int(cfg.get("vlanid"))
        if vlanid is None and name.startswith("Vlan"):
            vlanid = to_int(name[4:])
        return cls(name=name, namespace=namespace, vlanid=vlanid, members=members,
                   admin_status=str(cfg.get("admin_status", "up")), mtu=to_int(cfg.get("mtu", appl.get("mtu"))),
                   description=str(cfg.get("description", "")))


@dataclass(frozen=True)
class InterfaceAddress:
    """An L3 address from INTERFACE, PORTCHANNEL_INTERFACE, VLAN_INTERFACE, VLAN_SUB_INTERFACE,
    LOOPBACK_INTERFACE or MGMT_INTERFACE (`TABLE|name|prefix`)."""

    interface: str
    address: Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]
    table: str
    namespace: str = ""


@dataclass(frozen=True)
class BgpNeighbor:
    """CONFIG_DB BGP_NEIGHBOR|[vrf|]address."""

    address: str
    name: str = ""
    asn: str = ""
    vrf: str = "default"
    local_addr: str = ""
    namespace: str = ""

    @classmethod
    def from_fields(cls, key: str, separator: str, namespace: str, cfg: Fields) -> "BgpNeighbor":
        vrf, _, address = key.rpartition(separator)
        return cls(address=address, name=str(cfg.get("name", "")), asn=str(cfg.get("asn", "")),
                   vrf=vrf or "default", local_addr=str(cfg.get("local_addr", "")), namespace=namespace)


@dataclass(frozen=True)
class MirrorSession:
    """CONFIG_DB MIRROR_SESSION|name (every field kept in `fields`) plus STATE_DB
    MIRROR_SESSION_TABLE|name (`status`, and every field in `state`)."""

    name: str
    namespace: str = ""
    type: str = "ERSPAN"
    src_ip: str = ""
    dst_ip: str = ""
    gre_type: Optional[int] = None
    dscp: Optional[int] = None
    ttl: Optional[int] = None
    queue: Optional[int] = None
    policer: str = ""
    src_ports: Tuple[str, ...] = ()
    dst_port: str = ""
    direction: str = "BOTH"
    sample_rate: Optional[int] = None
    truncate_size: Optional[int] = None
    status: str = ""
    fields: Dict[str, str] = field(default_factory=dict, hash=False)
    state: Dict[str, str] = field(default_factory=dict, hash=False)

    @classmethod
    def from_fields(cls, name: str, namespace: str, cfg: Fields, state: Fields) -> "MirrorSession":
        kind = str(cfg.get("type", "SPAN" if "dst_port" in cfg and "dst_ip" not in cfg else "ERSPAN")).upper()
        gre = cfg.get("gre_type")
        return cls(
            name=name, namespace=namespace, type=kind, src_ip=str(cfg.get("src_ip", "")),
            dst_ip=str(cfg.get("dst_ip", "")),
            gre_type=(to_int(gre, 0) if gre is not None else ERSPAN_GRE_DEFAULT) if kind == "ERSPAN" else None,
            dscp=to_int(cfg.get("dscp")), ttl=to_int(cfg.get("ttl")), queue=to_int(cfg.get("queue")),
            policer=str(cfg.get("policer", "")), src_ports=as_list(cfg.get("src_port")),
            dst_port=str(cfg.get("dst_port", "")), direction=str(cfg.get("direction", "BOTH")).upper(),
            sample_rate=to_int(cfg.get("sample_rate")), truncate_size=to_int(cfg.get("truncate_size")),
            status=str(state.get("status", "")),
            fields={k: ",".join(v) if isinstance(v, list) else str(v) for k, v in cfg.items()},
            state={k: ",".join(v) if isinstance(v, list) else str(v) for k, v in state.items()})
