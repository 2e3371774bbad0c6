"""One crafted frame per probe class (and the VLAN/QinQ, either-port and fragment variants),
built with scapy; the expected class name is the one the kernel's BTF gives (enum probe_class)."""
from __future__ import annotations

from scapy.compat import raw
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, ICMPv6ND_NS, ICMPv6ND_RA, IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, GRE, LLC, STP, Dot1AD, Dot1Q, Dot3, Ether
from scapy.packet import Raw

PEER_MAC = "02:00:00:00:00:0b"
SWITCH_MAC = "02:00:00:00:00:0a"


def _eth(dst=SWITCH_MAC, **kw):
    return Ether(src=PEER_MAC, dst=dst, **kw)


def _v4(**kw):
    return _eth() / IP(src="192.0.2.2", dst="192.0.2.1", **kw)


def _v6(**kw):
    return _eth() / IPv6(src="2001:db8::2", dst="2001:db8::1", **kw)


# (class, frame): each class appears at least once; variants check VLANs and port matching.
FRAMES = [
    ("lldp", _eth(dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + bytes(6) + b"\x00" * 20)),
    ("lacp", _eth(dst="01:80:c2:00:00:02", type=0x8809) / Raw(b"\x01\x01" + bytes(108))),
    ("stp", Dot3(src=PEER_MAC, dst="01:80:c2:00:00:00") / LLC() / STP()),
    ("stp", Dot3(src=PEER_MAC, dst="01:00:0c:cc:cc:cd") / LLC(dsap=0xAA, ssap=0xAA, ctrl=3) / Raw(bytes(40))),
    ("arp", _eth(dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="192.0.2.2", pdst="192.0.2.1")),
    ("nd", _v6() / ICMPv6ND_NS(tgt="2001:db8::1")),
    ("nd", _v6() / ICMPv6ND_RA()),
    ("icmp", _v4() / ICMP()),
    ("icmp6", _v6() / ICMPv6EchoRequest()),
    ("bgp", _v4() / TCP(sport=40000, dport=179)),
    ("bgp", _v4() / TCP(sport=179, dport=40001)),
    ("bgp", _v6() / TCP(sport=40002, dport=179)),
    ("bgp", _eth() / Dot1Q(vlan=100) / IP(src="192.0.2.2", dst="192.0.2.1") / TCP(sport=40003, dport=179)),
    ("bgp", _eth(type=0x88A8) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(src="192.0.2.9", dst="192.0.2.1") / TCP(dport=179)),
    ("bfd", _v4() / UDP(sport=49152, dport=3784) / Raw(bytes(24))),
    ("bfd", _v4() / UDP(sport=49153, dport=4784) / Raw(bytes(24))),
    ("bfd", _v6() / UDP(sport=49154, dport=3785) / Raw(bytes(24))),
    ("dhcp", _eth(dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / Raw(bytes(240))),
    ("dhcp6", _v6() / UDP(sport=546, dport=547) / Raw(bytes(16))),
    ("ssh", _v4() / TCP(sport=50000, dport=22)),
    ("snmp", _v4() / UDP(sport=50001, dport=161) / Raw(bytes(30))),
    ("snmp", _v6() / UDP(sport=50002, dport=162) / Raw(bytes(30))),
    ("grpc", _v4() / TCP(sport=50003, dport=50051)),
    ("grpc", _v4() / TCP(sport=8080, dport=50004)),
    ("sflow", _v4() / UDP(sport=50005, dport=6343) / Raw(bytes(100))),
    ("vxlan", _v4() / UDP(sport=50006, dport=4789) / Raw(bytes(58))),
    ("tcp4", _v4() / TCP(sport=50007, dport=5000)),
    ("bgp", _v4(flags="MF", frag=0) / TCP(sport=50007, dport=179) / Raw(bytes(64))),  # first fragment: ports seen
    ("udp4", _v4() / UDP(sport=50008, dport=5001)),
    ("udp4", _v4(frag=10) / UDP(sport=50009, dport=179)),  # a later fragment: no ports, protocol only
    ("udp4", _v4() / UDP(sport=50010, dport=546)),  # DHCPv6 ports over IPv4 are plain UDP
    ("other_ip4", _v4(proto=47) / GRE() / Raw(bytes(20))),
    ("other_ip6", _v6() / TCP(sport=50011, dport=5000)),
    ("other_ip6", _v6() / UDP(sport=50012, dport=67)),  # DHCPv4 ports over IPv6
    ("icmp6", _v6() / IPv6ExtHdrHopByHop() / ICMPv6EchoRequest()),
    ("other_l2", _eth(type=0x88B5) / Raw(bytes(46))),
]
FRAMES = [(klass, raw(frame)) for klass, frame in FRAMES]
