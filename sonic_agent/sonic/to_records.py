"""From the model's typed entities to the neutral records exporters encode (sonic_agent.records)."""
from __future__ import annotations

from pathlib import Path
from typing import List, Mapping

from ..records import LagMember, LagState, PortState, VlanMember, VlanState
from .view import NamespaceView

SONIC_VERSION_FILE = "/etc/sonic/sonic_version.yml"


def port_states(view: NamespaceView, ifindexes: Mapping[str, int]) -> List[PortState]:
    """Ports, then PortChannels, then VLANs of one namespace, with the kernel ifindex where a
    netdev of that name exists."""
    out: List[PortState] = []
    for p in view.ports.values():
        out.append(PortState(p.name, p.alias, "port", view.namespace, p.index, p.speed_mbps, p.mtu,
                             p.admin_status, p.oper_status, p.netdev_oper_status, p.description,
                             view.lag_of.get(p.name, ""), ifindexes.get(p.name)))
    for lag in view.portchannels.values():
        out.append(PortState(lag.name, kind="portchannel", namespace=view.namespace, mtu=lag.mtu,
                             admin_status=lag.admin_status, oper_status=lag.oper_status,
                             ifindex=ifindexes.get(lag.name)))
    for vlan in view.vlans.values():
        out.append(PortState(vlan.name, kind="vlan", namespace=view.namespace, mtu=vlan.mtu,
                             admin_status=vlan.admin_status, description=vlan.description,
                             ifindex=ifindexes.get(vlan.name)))
    return out


def lag_states(view: NamespaceView) -> List[LagState]:
    """Each PortChannel with its member ports (those CONFIG_DB still has) and their APPL_DB
    LAG_MEMBER_TABLE status."""
    return [LagState(lag.name, view.namespace, tuple(LagMember(m, lag.member_status.get(m, ""))
                                                     for m in lag.members if m in view.ports))
            for lag in view.portchannels.values()]


def vlan_states(view: NamespaceView) -> List[VlanState]:
    """Each VLAN with its members (ports and PortChannels CONFIG_DB still has)."""
    return [VlanState(vlan.name, view.namespace, tuple(VlanMember(m.port, m.tagging_mode) for m in vlan.members
                                                       if m.port in view.ports or m.port in view.portchannels))
            for vlan in view.vlans.values()]


def sonic_version(path: str = SONIC_VERSION_FILE) -> str:
    """build_version from the image's sonic_version.yml, when the agent can see it."""
    try:
        for line in Path(path).read_text().splitlines():
            name, _, value = line.partition(":")
            if name.strip() == "build_version":
                return value.strip().strip("'\"")
    except OSError:
        pass
    return ""
