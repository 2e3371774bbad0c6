"""A mirror job's captured frames under a privacy policy (sonic_agent.privacy.frames).

Each case is built twice with scapy: with the real addresses (what the policy is given) and
with each address mapped by Crypto-PAn, every checksum computed by scapy itself (what the
policy must give, byte for byte). tshark then checks every checksum of what the policy gave."""
from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP
from scapy.layers.inet6 import (ICMPv6DestUnreach, ICMPv6EchoRequest, ICMPv6MLReport, ICMPv6ND_NS,
                                ICMPv6ND_Redirect, ICMPv6NDOptRedirectedHdr, IPv6, IPv6ExtHdrDestOpt,
                                IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrSegmentRouting)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Raw

from sonic_agent.config import PrivacyConfig
from sonic_agent.jobs.capture import JobCapture
from sonic_agent.mirror.capture import CapturedFrame
from sonic_agent.privacy.cryptopan import Anonymizer, CryptoPAn
from sonic_agent.privacy.policy import PrivacyPolicy
from tests.conftest import require
from tests.privacy.vectors import KEY

PAN = CryptoPAn(KEY)
A4, B4, C4, D4 = "10.1.2.3", "172.16.9.8", "192.168.7.1", "198.18.4.4"
A6, B6, C6, D6 = "2001:db8:1::5", "2001:db8:2::7", "2001:db8:3::9", "ff02::1:ff00:9"
MAPPED = "::ffff:10.9.8.7"
ETH = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
BODY = Raw(b"payload-" * 6)

# name -> a function of the address mapping giving the frame
CASES = {
    "ipv4 tcp": lambda m: ETH / IP(src=m(A4), dst=m(B4)) / TCP(sport=40000, dport=443, flags="PA") / BODY,
    "ipv4 udp": lambda m: ETH / IP(src=m(A4), dst=m(B4)) / UDP(sport=5000, dport=53) / BODY,
    "ipv4 udp without checksum": lambda m: ETH / IP(src=m(A4), dst=m(B4)) / UDP(sport=5000, dport=9, chksum=0) / BODY,
    "802.1q": lambda m: ETH / Dot1Q(vlan=100) / IP(src=m(A4), dst=m(C4)) / TCP(sport=1, dport=2) / BODY,
    "q-in-q": lambda m: ETH / Dot1AD(vlan=7) / Dot1Q(vlan=100) / IP(src=m(B4), dst=m(C4)) / UDP() / BODY,
    "ipv4 options": lambda m: ETH / IP(src=m(A4), dst=m(B4), options=[IPOption_NOP()] * 4) / UDP() / BODY,
    "ipv4 later fragment": lambda m: ETH / IP(src=m(A4), dst=m(B4), proto=17, frag=10) / BODY,
    "icmp echo": lambda m: ETH / IP(src=m(A4), dst=m(B4)) / ICMP() / BODY,
    "icmp error quoting udp": lambda m: ETH / IP(src=m(C4), dst=m(A4)) / ICMP(type=3, code=3)
    / IP(src=m(A4), dst=m(B4)) / UDP(sport=5000, dport=33434) / BODY,
    "icmp redirect": lambda m: ETH / IP(src=m(C4), dst=m(A4)) / ICMP(type=5, code=1, gw=m(D4))
    / IP(src=m(A4), dst=m(B4)) / UDP(sport=5000, dport=53),
    "ipv6 tcp": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / TCP(sport=40000, dport=179) / BODY,
    "ipv6 udp": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / UDP(sport=5000, dport=53) / BODY,
    "icmpv6 echo": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / ICMPv6EchoRequest(data=b"x" * 20),
    "ipv6 extension headers": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / IPv6ExtHdrHopByHop()
    / IPv6ExtHdrFragment(offset=0, m=1) / UDP(sport=1, dport=2) / BODY,
    "ipv6 later fragment": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / IPv6ExtHdrFragment(offset=5, nh=17) / BODY,
    "neighbor solicitation": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / ICMPv6ND_NS(tgt=m(C6)),
    "icmpv6 redirect": lambda m: ETH / IPv6(src=m(A6), dst=m(B6)) / ICMPv6ND_Redirect(tgt=m(C6), dst=m(D6)),
    "mld report": lambda m: ETH / IPv6(src=m(A6), dst=m(D6)) / ICMPv6MLReport(mladdr=m(D6)),
    "icmpv6 error quoting tcp": lambda m: ETH / IPv6(src=m(C6), dst=m(A6)) / ICMPv6DestUnreach()
    / IPv6(src=m(A6), dst=m(B6)) / TCP(sport=40000, dport=80) / BODY,
    "ip in ip": lambda m: ETH / IP(src=m(C4), dst=m(B4)) / IP(src=m(A4), dst=m(B4)) / UDP(sport=7, dport=8) / BODY,
    "ipv6 in ipv4": lambda m: ETH / IP(src=m(C4), dst=m(B4)) / IPv6(src=m(A6), dst=m(B6)) / TCP() / BODY,
    "arp": lambda m: ETH / ARP(psrc=m(A4), pdst=m(B4), hwsrc="02:00:00:00:00:01"),
    "v4-mapped ipv6": lambda m: ETH / IPv6(src=m(MAPPED), dst=m(A6)) / UDP(sport=1, dport=2) / BODY,
}
ADDRESSES = (A4, B4, C4, D4, A6, B6, C6, D6, MAPPED)


def policy(**cfg) -> PrivacyPolicy:
    return PrivacyPolicy(PrivacyConfig(**cfg), "privacy", Anonymizer(KEY, 1024), None)


def raw(case: str, anonymised: bool) -> bytes:
    return bytes(CASES[case](PAN.anonymize if anonymised else str))


@pytest.mark.parametrize("case", CASES)
def test_every_address_is_anonymised_and_every_checksum_is_as_scapy_computes_it(case):
    redacted = policy(anonymize=True).frame(raw(case, False))
    assert redacted == raw(case, True)
    for address in ADDRESSES:
        assert ipaddress.ip_address(address).packed not in redacted[14:]


def test_tshark_finds_every_checksum_good(tmp_path):
    require(shutil.which("tshark") is not None, "needs tshark")
    anonymize = policy(anonymize=True)
    frames = [anonymize.frame(raw(case, False)) for case in CASES]
    path = tmp_path / "redacted.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1) + b"".join(
        struct.pack("<IIII", 1, 0, len(f), len(f)) + f for f in frames))
    fields = ("ip.checksum.status", "tcp.checksum.status", "udp.checksum.status", "icmp.checksum.status",
              "icmpv6.checksum.status")
    done = subprocess.run(["tshark", "-r", str(path), "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE",
                           "-o", "udp.check_checksum:TRUE", "-T", "fields", *(x for f in fields for x in ("-e", f))],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    statuses = [cell.split(",") for line in done.stdout.splitlines() for cell in line.split("\t") if cell]
    flat = [s for cell in statuses for s in cell]
    assert "0" not in flat, done.stdout  # 0: bad
    assert flat.count("1") >= 35, done.stdout  # 1: good (UDP without a checksum is not verified)


def test_what_cannot_be_anonymised_is_cut_away():
    anonymize = policy(anonymize=True)
    lldp = bytes(Ether(src="02:00:00:00:00:01", dst="01:80:c2:00:00:0e", type=0x88CC)
                 / Raw(b"\x02\x07\x04" + bytes([10, 1, 2, 3]) * 8))
    assert anonymize.frame(lldp) == lldp[:14]
    mpls = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x8847) / Raw(b"\x00\x01\x01\x40")
                 / IP(src=A4, dst=B4) / UDP())
    assert anonymize.frame(mpls) == mpls[:14]
    v6 = raw("ipv6 udp", False)
    assert anonymize.frame(v6[:40]) == v6[:14]  # the snap length cut the IPv6 header
    error = raw("icmp error quoting udp", False)
    cut = anonymize.frame(error[:50])  # inside the quoted header: only what precedes it is kept
    assert cut == raw("icmp error quoting udp", True)[:34] + error[34:42]  # ICMP header unchanged (nothing quoted)
    assert anonymize.frame(b"\x02" * 13) == b"\x02" * 12  # no ethertype


def leaks(out: bytes, *addresses: str) -> list:
    return [a for a in addresses if ipaddress.ip_address(a).packed in out[14:]]


def test_what_the_walk_cannot_vouch_for_is_cut_away():
    """A second review's reproducers: nothing it does not rewrite is passed on."""
    anonymize = policy(anonymize=True)
    deep = ETH / IP(src=A4, dst=B4) / IP(src=A4, dst=B4) / IP(src=A4, dst=B4) / IP(src=C4, dst=D4) / UDP()
    assert anonymize.frame(bytes(deep)) == raw_of(deep, anonymised=True)[:14 + 3 * 20]  # depth 3, then cut
    quoted_deep = ETH / IP(src=A4, dst=B4) / IP(src=A4, dst=B4) / IP(src=A4, dst=B4) / ICMP(type=3) \
        / IP(src=C4, dst=D4) / UDP()
    assert leaks(anonymize.frame(bytes(quoted_deep)), A4, B4, C4, D4) == []
    options = ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrDestOpt() / ICMPv6DestUnreach() / IPv6(src=C6, dst=D6) / UDP()
    assert anonymize.frame(bytes(options)) == raw_of(options, anonymised=True)[:54]  # may carry a home address
    srv6 = ETH / IPv6(src=A6, dst=B6) / IPv6ExtHdrSegmentRouting(addresses=[C6, D6, B6], segleft=2) / UDP() / BODY
    assert anonymize.frame(bytes(srv6)) == raw_of(srv6, anonymised=True)[:54]  # segments not rewritten: cut
    ah = ETH / IPv6(src=A6, dst=B6) / AH(nh=58, payloadlen=4, icv=b"\0" * 12) / ICMPv6DestUnreach() / IPv6(src=C6, dst=D6) / UDP()
    out = anonymize.frame(bytes(ah))
    assert len(out) == len(ah) and leaks(out, A6, B6, C6, D6) == []  # AH skipped, the quote rewritten
    redirect = ETH / IPv6(src=A6, dst=B6) / ICMPv6ND_Redirect(tgt=C6, dst=D6) \
        / ICMPv6NDOptRedirectedHdr(pkt=IPv6(src=B6, dst=C6) / UDP())
    out = anonymize.frame(bytes(redirect))
    assert len(out) == 14 + 40 + 40 and leaks(out, A6, B6, C6, D6) == []  # its options cut
    tcp = raw("ipv4 tcp", False)
    assert anonymize.frame(tcp[:51]) == raw("ipv4 tcp", True)[:50]  # one byte of the checksum: cut before it
    not_v4 = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02", type=0x0800) / IPv6(src=A6, dst=B6))
    assert anonymize.frame(not_v4) == not_v4[:14]  # an IPv6 header behind 0x0800
    padded = bytes(ETH / IP(src=A4, dst=B4, proto=6, len=20) / Raw(b"\x5a" * 30))  # no TCP header: padding
    assert anonymize.frame(padded)[34:] == padded[34:]
    tags = ETH / Dot1AD(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP(src=A4, dst=B4) / UDP()
    assert anonymize.frame(bytes(tags)) == raw_of(tags, anonymised=True)  # three tags, as the decoder walks


def raw_of(packet, anonymised: bool) -> bytes:
    """`packet` rebuilt with every IP/IPv6 address mapped (checksums recomputed by scapy)."""
    packet = packet.copy()
    for layer in (IP, IPv6):
        for i in range(1, 12):
            found = packet.getlayer(layer, nb=i)
            if found is None:
                break
            if anonymised:
                found.src, found.dst = PAN.anonymize(found.src), PAN.anonymize(found.dst)
            if layer is IP:
                del found.chksum
    return bytes(packet)


def test_hostile_headers_are_bounded():
    anonymize = policy(anonymize=True)
    bad_ihl = bytearray(raw("ipv4 udp", False))
    bad_ihl[14] = 0x42  # IHL 2: the UDP checksum is not looked for inside the IP header
    out = anonymize.frame(bytes(bad_ihl))
    assert out[14:26] == bytes(bad_ihl[14:24]) + out[24:26] and out[34:] == bytes(bad_ihl[34:])
    nested = ETH / IP(src=A4, dst=B4)
    for _ in range(10):
        nested = nested / IP(src=A4, dst=B4)
    assert len(anonymize.frame(bytes(nested / UDP()))) == 14 + 3 * 20  # depth bounded, nothing raised
    loops = bytes(ETH / IPv6(src=A6, dst=B6, nh=0) / Raw(b"\x00" * 8 * 20))  # hop-by-hop headers, each naming another
    assert len(anonymize.frame(loops)) == 14 + 40 + 8 * 8  # the walk's bound: cut there


def test_excluded_frames_are_not_kept_and_counted():
    exclude = policy(exclude=["10.1.0.0/16", "2001:db8:2::/48"])
    assert exclude.frame(raw("ipv4 tcp", False)) is None
    assert exclude.frame(raw("arp", False)) is None
    assert exclude.frame(raw("ipv6 tcp", False)) is None  # its destination
    for case in ("ip in ip", "icmp error quoting udp", "802.1q"):  # inner, quoted, tagged
        assert exclude.frame(raw(case, False)) is None, case
    assert exclude.frame(bytes(ETH / IPv6(src="::ffff:10.1.2.3", dst=A6) / UDP())) is None  # v4-mapped
    assert exclude.frame(bytes(ETH / IPv6(src=A6, dst=C6) / ICMPv6ND_NS(tgt=B6))) is None  # an NDP target
    tagged = ETH / Dot1Q(vlan=1, type=0x9200) / Dot1Q(vlan=2) / IP(src=A4, dst=C4) / UDP()
    assert exclude.frame(bytes(tagged)) is None  # a 0x9200 tag, as the decoder walks
    kept = raw("q-in-q", False)
    assert exclude.frame(kept) == kept  # exclusion alone: frames kept as they are
    capture = JobCapture(1 << 20, 256, exclude.frame)
    for case in ("ipv4 tcp", "q-in-q", "arp"):
        capture.add(CapturedFrame(1.0, ("", "", 0), 1, None, "rx", len(raw(case, False)), raw(case, False)))
    assert capture.stats()["frames"] == 1 and capture.stats()["excluded"] == 2
    assert [bytes.fromhex(p["data"]) for p in capture.packets()] == [kept]


def test_a_policy_that_fails_on_a_frame_keeps_nothing_of_it():
    capture = JobCapture(1 << 20, 256, lambda data: data[1 << 30])  # IndexError on every frame
    capture.add(CapturedFrame(1.0, ("", "", 0), 1, None, "rx", 60, raw("ipv4 tcp", False)))
    assert (capture.stats()["frames"], capture.stats()["redact_errors"]) == (0, 1)


def test_the_capture_stores_only_redacted_frames_and_counts_cuts():
    capture = JobCapture(1 << 20, 64, policy(anonymize=True).frame)
    for case in ("ipv4 tcp", "ipv6 udp"):
        frame = raw(case, False)
        capture.add(CapturedFrame(1.0, ("", "", 0), 1, None, "rx", len(frame), frame))
    first, second = [bytes.fromhex(p["data"]) for p in capture.packets()]
    assert first == raw("ipv4 tcp", True)[:64]  # TCP's checksum within the snap length: fixed
    assert second == raw("ipv6 udp", True)[:64]  # UDP's checksum (bytes 60-61) within it too
    assert capture.stats()["cut"] == 0
    pcap = capture.pcap()
    for address in ADDRESSES:
        assert ipaddress.ip_address(address).packed not in pcap
