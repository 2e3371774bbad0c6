"""From the model's typed entities to the neutral records exporters encode (sonic_agent.records)."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from ..records import PortState
from .view import NamespaceView

SONIC_VERSION_FILE = "/etc/sonic/sonic_version.yml"


def port_states(view: NamespaceView, ifindexes: Mapping[str, int]) -> List[PortState]:
    """Ports, then PortChannels, then VLANs of one namespace, with their LAG/VLAN labels (LAG
    member status, VLAN tagging modes) and the kernel ifindex where a netdev of that name exists."""
    memberships: Dict[str, List[Tuple[str, str]]] = {}  # port or PortChannel -> [(VLAN, tagging mode)]
    for vlan in view.vlans.values():
        for member in vlan.members:
            memberships.setdefault(member.port, []).append((vlan.name, member.tagging_mode))
    vlans = {port: tuple(zip(*pairs)) for port, pairs in memberships.items()}  # -> (names, modes)
    out: List[PortState] = []
    for p in view.ports.values():
        lag = view.lag_of.get(p.name, "")
        names, modes = vlans.get(p.name, ((), ()))
        member_status = view.portchannels[lag].member_status.get(p.name, "") if lag else ""
        out.append(PortState(p.name, p.alias, "port", view.namespace, p.index, p.speed_mbps, p.mtu,
                             p.admin_status, p.oper_status, p.netdev_oper_status, p.description, lag, names,
                             ifindexes.get(p.name), lag_member_status=member_status, vlan_modes=modes))
    for lag in view.portchannels.values():
        names, modes = vlans.get(lag.name, ((), ()))
        out.append(PortState(lag.name, kind="portchannel", namespace=view.namespace, mtu=lag.mtu,
                             admin_status=lag.admin_status, oper_status=lag.oper_status,
                             vlans=names, ifindex=ifindexes.get(lag.name), vlan_modes=modes))
    for vlan in view.vlans.values():
        out.append(PortState(vlan.name, kind="vlan", namespace=view.namespace, mtu=vlan.mtu,
                             admin_status=vlan.admin_status, description=vlan.description,
                             ifindex=ifindexes.get(vlan.name)))
    return out


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
