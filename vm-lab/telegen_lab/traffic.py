"""`telegen-sonic lab traffic`: what the lab's neighbors send, crafted with scapy.

- control: per port, one frame of each control-plane class a switch CPU sees (LLDP, LACP,
  STP, ARP, ND, ICMP, ICMPv6, BGP, BFD, DHCP, DHCPv6, SSH, SNMP, gNMI, sFlow, VXLAN);
- data: UDP and TCP between neighbors, routed by the switch namespace (what crosses a
  mirrored port is copied by the lab's ASIC mirror, telegen_lab.mirroring).
Frames are built once, then sent from the neighbor namespace with AF_PACKET sockets.
scapy (only the layers used: all of scapy takes half a second to import) is imported here only.
"""
from __future__ import annotations

import errno
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from pyroute2 import NetNS
from pyroute2.netns import setns
from scapy.contrib.lacp import LACP, SlowProtocol
from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUPortID,
                                LLDPDUTimeToLive)
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, IPv6
from scapy.layers.l2 import ARP, LLC, STP, Dot3, Ether
from scapy.packet import Raw

from .topology import MGMT_PORT, LabLayout

CONTROL_CLASSES = ("lldp", "lacp", "stp", "arp", "nd", "icmp", "icmpv6", "bgp", "bfd", "dhcp",
                   "dhcpv6", "ssh", "snmp", "gnmi", "sflow", "vxlan")


@dataclass
class Link:
    """One neighbor-side veth: its MAC and addresses, and the switch port's MAC and addresses."""

    port: str
    mac: str
    switch_mac: str
    ip4: Optional[str] = None
    switch_ip4: Optional[str] = None
    ip6: Optional[str] = None
    switch_ip6: Optional[str] = None


def read_links(layout: LabLayout) -> Dict[str, Link]:
    def addrs(ns):
        with NetNS(ns) as ipr:
            names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
            macs = {l.get_attr("IFLA_IFNAME"): l.get_attr("IFLA_ADDRESS") for l in ipr.get_links()}
            out: Dict[str, Dict[int, str]] = {}
            for a in ipr.get_addr():
                ip = a.get_attr("IFA_ADDRESS")
                if not ip.startswith("fe80"):
                    out.setdefault(names[a["index"]], {}).setdefault(a["family"], ip)
            return macs, out
    sw_macs, sw_addrs = addrs(layout.switch_ns)
    nb_macs, nb_addrs = addrs(layout.neighbor_ns)
    links = {}
    for name, mac in nb_macs.items():
        if name == "lo" or name not in sw_macs:
            continue
        sw, nb = sw_addrs.get(name, {}), nb_addrs.get(name, {})
        links[name] = Link(name, mac, sw_macs[name], nb.get(socket.AF_INET), sw.get(socket.AF_INET),
                           nb.get(socket.AF_INET6), sw.get(socket.AF_INET6))
    return links


def _fill_addresses(link: Link, index: int) -> Tuple[str, str, str, str]:
    """Addresses for frames: configured ones, else a per-port synthetic pair."""
    ip4 = link.ip4 or f"172.31.{index}.2"
    sw4 = link.switch_ip4 or f"172.31.{index}.1"
    ip6 = link.ip6 or f"fd00:31:{index:x}::2"
    sw6 = link.switch_ip6 or f"fd00:31:{index:x}::1"
    return ip4, sw4, ip6, sw6


def control_frames(link: Link, index: int) -> List[Tuple[str, bytes]]:
    ip4, sw4, ip6, sw6 = _fill_addresses(link, index)
    eth = Ether(src=link.mac, dst=link.switch_mac)
    v4 = eth / IP(src=ip4, dst=sw4)
    v6 = eth / IPv6(src=ip6, dst=sw6)
    sol = ipaddress.IPv6Address(sw6).packed[-3:]
    sol_node = str(ipaddress.IPv6Address(b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + sol))
    frames = {
        "lldp": Ether(src=link.mac, dst="01:80:c2:00:00:0e", type=0x88CC)
        / LLDPDUChassisID(subtype=4, id=link.mac) / LLDPDUPortID(subtype=5, id=link.port)
        / LLDPDUTimeToLive(ttl=120) / LLDPDUEndOfLLDPDU(),
        "lacp": Ether(src=link.mac, dst="01:80:c2:00:00:02") / SlowProtocol() / LACP(),
        "stp": Dot3(src=link.mac, dst="01:80:c2:00:00:00") / LLC() / STP(),
        "arp": Ether(src=link.mac, dst="ff:ff:ff:ff:ff:ff") / ARP(hwsrc=link.mac, psrc=ip4, pdst=sw4),
        "nd": Ether(src=link.mac, dst="33:33:ff:" + ":".join(f"{b:02x}" for b in sol))
        / IPv6(src=ip6, dst=sol_node, hlim=255) / ICMPv6ND_NS(tgt=sw6),
        "icmp": v4 / ICMP(id=index, seq=1),
        "icmpv6": v6 / ICMPv6EchoRequest(id=index, seq=1),
        "bgp": v4 / TCP(sport=40000 + index, dport=179, flags="S"),
        "bfd": v4 / UDP(sport=49152 + index, dport=3784) / Raw(b"\x20\x40\x03\x18" + b"\0" * 20),
        "dhcp": Ether(src=link.mac, dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67) / BOOTP(chaddr=bytes.fromhex(link.mac.replace(":", "")))
        / DHCP(options=[("message-type", "discover"), "end"]),
        "dhcpv6": Ether(src=link.mac, dst="33:33:00:01:00:02") / IPv6(src=ip6, dst="ff02::1:2")
        / UDP(sport=546, dport=547) / Raw(b"\x01\x00\x00\x01"),
        "ssh": v4 / TCP(sport=41000 + index, dport=22, flags="S"),
        "snmp": v4 / UDP(sport=42000 + index, dport=161) / Raw(b"\x30\x00"),
        "gnmi": v4 / TCP(sport=43000 + index, dport=50051, flags="S"),
        "sflow": v4 / UDP(sport=44000 + index, dport=6343) / Raw(b"\0" * 28),
        "vxlan": v4 / UDP(sport=45000 + index, dport=4789) / Raw(b"\x08\0\0\0\0\0\x01\0" + b"\0" * 14),
    }
    return [(klass, bytes(frames[klass])) for klass in CONTROL_CLASSES]


def data_frames(link: Link, index: int, links: Dict[str, Link]) -> List[bytes]:
    """UDP and TCP from this neighbor to every other neighbor with an IPv4 address."""
    ip4, _, _, _ = _fill_addresses(link, index)
    out = []
    for other in links.values():
        if other.port == link.port or other.port == MGMT_PORT or not other.ip4:
            continue
        base = Ether(src=link.mac, dst=link.switch_mac) / IP(src=ip4, dst=other.ip4, tos=0x20)
        out.append(bytes(base / UDP(sport=5000 + index, dport=6000) / Raw(b"x" * 64)))
        out.append(bytes(base / TCP(sport=7000 + index, dport=443, flags="PA") / Raw(b"y" * 200)))
    return out


class Sender:
    """AF_PACKET sockets on the neighbor side, one per interface."""

    def __init__(self, ports):
        self.sockets = {}
        for port in ports:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((port, 0))
            self.sockets[port] = sock

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()


def build_round(layout: LabLayout, kind: str) -> List[Tuple[str, bytes]]:
    """The (port, frame) list one round sends."""
    links = read_links(layout)
    ports = sorted(p for p in links if p != MGMT_PORT)
    if kind == "control":
        return [(p, f) for i, p in enumerate(ports, 1) for _, f in control_frames(links[p], i)]
    return [(p, f) for i, p in enumerate(ports, 1) for f in data_frames(links[p], i, links)]


PORT_GONE = (errno.ENXIO, errno.ENODEV)  # the port was removed: its frames are left out from then on
NOT_NOW = (errno.ENETDOWN, errno.ENOBUFS, errno.EAGAIN)  # down or full: that frame is not sent


@dataclass
class Sent:
    frames: int = 0
    unsent: int = 0  # frames of ports that were down or had been removed
    removed: Tuple[str, ...] = ()


def run_traffic(layout: LabLayout, kind: str, count: int, interval: float) -> Sent:
    """Send `count` rounds (0: until interrupted). A port removed meanwhile (lab or CONFIG_DB
    change) is left out of the rounds that follow, a port down skips its frames; both counted."""
    frames = build_round(layout, kind)
    setns(layout.neighbor_ns)
    sender = Sender({p for p, _ in frames})
    out, rounds = Sent(), 0
    buffers = [(p, sender.sockets[p].send, f) for p, f in frames]  # one lookup per frame, not per send
    try:
        while count == 0 or rounds < count:
            gone = set()
            for port, send, frame in buffers:
                if port in gone:
                    out.unsent += 1
                    continue
                try:
                    send(frame)
                except OSError as exc:
                    if exc.errno not in PORT_GONE + NOT_NOW:
                        raise
                    out.unsent += 1
                    if exc.errno in PORT_GONE:
                        gone.add(port)
                    continue
                out.frames += 1
            if gone:
                buffers = [b for b in buffers if b[0] not in gone]
                out.removed += tuple(sorted(gone))
            rounds += 1
            if not buffers:
                break
            if interval and (count == 0 or rounds < count):
                time.sleep(interval)
    finally:
        sender.close()
    return out


def main(args) -> int:
    sent = run_traffic(LabLayout(args.name), args.kind, args.count, args.interval)
    note = f" ({sent.unsent} not sent: {', '.join(sent.removed) or 'ports down'}" + \
        (" removed)" if sent.removed else ")") if sent.unsent else ""
    print(f"lab traffic: sent {sent.frames} {args.kind} frames{note}")
    return 0
