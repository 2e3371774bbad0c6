"""The lab's network: a switch namespace whose port netdevs carry CONFIG_DB names, each a veth
whose peer (same name) sits in a neighbor namespace, plus a management port eth0.

This kernel has no bond, team or 802.1Q device, so PortChannelN and VlanN are Linux bridges
that enslave their member ports (a PortChannel that is itself a VLAN member stays out of the
VLAN bridge: a bridge cannot enslave a bridge). Everything is made with `ip -batch`, one
process per step, and removed by deleting the two namespaces.
"""
from __future__ import annotations

import ipaddress
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Mapping

from sonic_agent.errors import UserError

LAB_ROOT = Path("/run/telegen-sonic-lab")
MGMT_PORT = "eth0"


NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,11}")  # a netns name with -sw/-nbr, a path part, a pin dir's suffix


@dataclass(frozen=True)
class LabLayout:
    """Names and paths of one lab instance (several can coexist under different names). The
    name becomes namespace names and a directory that `lab down` removes, so it is checked:
    1-12 lower-case letters, digits and '-', never a path (`../x` was one)."""

    name: str = "tg"

    def __post_init__(self):
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise UserError(f"lab: --name {str(self.name)[:40]!r}: 1-12 lower-case letters, digits or '-', "
                            "starting with a letter or digit")

    @property
    def switch_ns(self) -> str:
        return f"{self.name}-sw"

    @property
    def neighbor_ns(self) -> str:
        return f"{self.name}-nbr"

    @property
    def dir(self) -> Path:
        return LAB_ROOT / self.name

    @property
    def db_config(self) -> Path:
        return self.dir / "sonic-db" / "database_config.json"

    @property
    def redis_dir(self) -> Path:
        """The lab's /var/run/redis as a switch's containers see it: the socket, and a
        sonic-db/database_config.json naming it /var/run/redis/redis.sock, so a container that
        mounts this directory at /var/run/redis (the extension manifest's volume) reads the lab."""
        return self.dir / "redis"

    @property
    def redis_socket(self) -> Path:
        return self.redis_dir / "redis.sock"

    @property
    def bpf_pin_dir(self) -> Path:
        """Where the agent run by `lab run` pins its probe maps (removed by `lab down`)."""
        return Path("/sys/fs/bpf") / f"telegen-sonic-lab-{self.name}"

    def pidfile(self, process: str) -> Path:
        return self.dir / f"{process}.pid"

    def exists(self) -> bool:
        return Path("/run/netns", self.switch_ns).exists() or self.dir.exists()


def ip_batch(commands: Iterable[str]) -> None:
    """Run `ip` commands in order, one `ip [-n NS] -batch -` per run of the same namespace.

    A command may start with `-n NS` (not allowed inside a batch file itself)."""
    groups: List[tuple] = []
    for cmd in commands:
        ns, line = (cmd.split(" ", 2)[1:] if cmd.startswith("-n ") else (None, cmd))
        if groups and groups[-1][0] == ns:
            groups[-1][1].append(line)
        else:
            groups.append((ns, [line]))
    for ns, lines in groups:
        argv = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
        result = subprocess.run(argv, input="\n".join(lines) + "\n", text=True, capture_output=True)
        if result.returncode != 0:
            raise UserError(f"lab: ip failed: {(result.stderr.strip().splitlines() or ['?'])[0]}")


def port_commands(layout: LabLayout, port: str, mtu: int = 9100, admin_up: bool = True) -> List[str]:
    sw, nbr = layout.switch_ns, layout.neighbor_ns
    cmds = [f"link add {port} netns {sw} mtu {mtu} type veth peer name {port} netns {nbr} mtu {mtu}",
            f"-n {nbr} link set {port} up"]
    if admin_up:
        cmds.append(f"-n {sw} link set {port} up")
    return cmds


def create(layout: LabLayout, tables: Mapping[str, Mapping[str, dict]]) -> List[str]:
    """Create namespaces and every netdev the CONFIG_DB tables describe; returns port names."""
    sw, nbr = layout.switch_ns, layout.neighbor_ns
    ports = list(tables.get("PORT", {}))
    if not ports:
        raise UserError("lab: the CONFIG_DB has no PORT table")
    too_long = [p for p in ports if len(p) > 15]
    if too_long:
        raise UserError(f"lab: PORT name too long for a netdev (15 chars): {too_long[0]}")
    cmds = [f"netns add {sw}", f"netns add {nbr}", f"-n {sw} link set lo up", f"-n {nbr} link set lo up"]
    for port, fields in tables["PORT"].items():
        cmds += port_commands(layout, port, _int(fields.get("mtu"), 9100), fields.get("admin_status") == "up")
    cmds += port_commands(layout, MGMT_PORT, 1500)
    ip_batch(cmds)
    ip_batch(_bridges(layout, tables, set(ports)) + _addresses(layout, tables))
    return ports


def _bridges(layout: LabLayout, tables: Mapping[str, Mapping[str, dict]], ports: set) -> List[str]:
    sw = layout.switch_ns
    cmds, enslaved = [], set()
    lag_members = _members(tables.get("PORTCHANNEL_MEMBER", {}))
    for lag, fields in tables.get("PORTCHANNEL", {}).items():
        cmds += [f"-n {sw} link add {lag} type bridge", f"-n {sw} link set {lag} up"]
        for member in sorted(lag_members.get(lag, set()) | set(fields.get("members", []))):
            if member in ports and member not in enslaved:
                cmds.append(f"-n {sw} link set {member} master {lag}")
                enslaved.add(member)
    vlan_members = _members(tables.get("VLAN_MEMBER", {}))
    for vlan in tables.get("VLAN", {}):
        cmds += [f"-n {sw} link add {vlan} type bridge", f"-n {sw} link set {vlan} up"]
        for member in sorted(vlan_members.get(vlan, set())):
            if member in ports and member not in enslaved:
                cmds.append(f"-n {sw} link set {member} master {vlan}")
                enslaved.add(member)
    return cmds


def _members(table: Mapping[str, dict]) -> Dict[str, set]:
    out: Dict[str, set] = {}
    for key in table:
        parent, _, member = key.partition("|")
        out.setdefault(parent, set()).add(member)
    return out


def _addresses(layout: LabLayout, tables: Mapping[str, Mapping[str, dict]]) -> List[str]:
    """Switch-side addresses from *INTERFACE tables; the neighbor side gets the peer address."""
    sw, nbr = layout.switch_ns, layout.neighbor_ns
    cmds = []
    lag_first = {lag: sorted(f.get("members") or [""])[0] for lag, f in tables.get("PORTCHANNEL", {}).items()}
    for table in ("INTERFACE", "PORTCHANNEL_INTERFACE", "VLAN_INTERFACE", "MGMT_INTERFACE"):
        for key in tables.get(table, {}):
            dev, _, prefix = key.partition("|")
            if not prefix:
                continue
            try:
                iface = ipaddress.ip_interface(prefix)
            except ValueError:
                continue
            cmds.append(f"-n {sw} addr add {iface} dev {dev}")
            peer_dev = lag_first.get(dev, dev)
            peer = peer_address(iface)
            if peer is not None and table != "VLAN_INTERFACE" and peer_dev:
                cmds.append(f"-n {nbr} addr add {peer}/{iface.network.prefixlen} dev {peer_dev}")
    return cmds


def peer_address(iface) -> "ipaddress._BaseAddress | None":
    """The other end of a point-to-point prefix (/31, /127 or the next host of a larger one)."""
    net, addr = iface.network, iface.ip
    if net.num_addresses == 1:
        return None
    if net.num_addresses == 2:
        return net[0] if addr == net[1] else net[1]
    candidate = addr + 1
    return candidate if candidate in net and candidate != net.broadcast_address else addr - 1


def destroy(layout: LabLayout) -> None:
    for ns in (layout.switch_ns, layout.neighbor_ns):
        if Path("/run/netns", ns).exists():
            subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def _int(value, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def require_root() -> None:
    if os.geteuid() != 0:
        raise UserError("lab: needs root (network namespaces, veth, redis in /run)")
