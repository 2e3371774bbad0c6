"""Crypto-PAn against the reference implementation's published sample, prefix preservation as a
property, and `decode --anonymize-key` of a capture of the sample's addresses."""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys

from hypothesis import given, settings, strategies as st
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6

from sonic_agent.privacy.cryptopan import Anonymizer, CryptoPAn
from tests.erspan.craft import eth, erspan2, write_pcap
from tests.privacy.vectors import IPV4, IPV6, KEY

PAN = CryptoPAn(KEY)


def test_the_reference_sample_maps_exactly():
    assert len(IPV4) == 71
    assert [(raw, PAN.anonymize(raw)) for raw, _ in IPV4] == IPV4


def test_ipv6_agrees_with_another_implementation():
    assert [(raw, PAN.anonymize(raw)) for raw, _ in IPV6] == IPV6


def shared_prefix(a: int, b: int, bits: int) -> int:
    return bits - (a ^ b).bit_length()


@settings(max_examples=300, deadline=None)
@given(st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1))
def test_ipv4_prefixes_are_preserved(a, b):
    x, y = PAN.anonymize_int(a, 32), PAN.anonymize_int(b, 32)
    assert shared_prefix(x, y, 32) == shared_prefix(a, b, 32)
    assert (x == y) == (a == b)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, (1 << 128) - 1), st.integers(0, 127), st.integers(0, (1 << 128) - 1))
def test_ipv6_prefixes_are_preserved(a, keep, noise):
    b = (a >> (128 - keep) << (128 - keep)) | (noise & ((1 << (128 - keep)) - 1)) if keep else noise
    x, y = PAN.anonymize_int(a, 128), PAN.anonymize_int(b, 128)
    assert shared_prefix(x, y, 128) == shared_prefix(a, b, 128)


def test_the_cache_is_bounded_and_counted():
    anonymizer = Anonymizer(KEY, entries=4)
    for i in range(10):
        assert anonymizer.text(f"10.0.0.{i}") == PAN.anonymize(f"10.0.0.{i}")
    assert anonymizer.text("10.0.0.9") == PAN.anonymize("10.0.0.9")
    assert anonymizer.text("not an address") == "not an address"
    assert anonymizer.text("fe80::1%eth0") == PAN.anonymize("fe80::1") + "%eth0"
    assert anonymizer.counters() == {"privacy_cache_hits_total": 1, "privacy_cache_misses_total": 12,
                                     "privacy_cache_evictions_total": 8, "privacy_cache_entries": 4}


def test_decode_anonymizes_a_capture_as_the_reference_does(tmp_path):
    """Acceptance 1: every address of the decoded capture (inner and outer, flows and mirror
    streams) is the sample's sanitised form."""
    pairs = dict(IPV4)
    raw = [a for a, _ in IPV4]
    frames = [erspan2(inner=eth() / IP(src=raw[i], dst=raw[i + 1]) / UDP(sport=1000 + i, dport=53),
                      outer=dict(src=raw[-1], dst=raw[-2]), seq=i + 1) for i in range(0, 60, 2)]
    frames.append(erspan2(inner=eth() / IPv6(src=IPV6[3][0], dst=IPV6[0][0]) / UDP(sport=7, dport=7),
                          outer=dict(src=raw[-1], dst=raw[-2]), seq=31))
    capture = tmp_path / "sample.pcap"
    write_pcap(capture, frames)
    key = tmp_path / "key"
    key.write_bytes(KEY)
    key.chmod(0o600)

    def decode(*options):
        result = subprocess.run([sys.executable, "-m", "sonic_agent", "decode", str(capture), "--format", "json",
                                 *options], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    plain, anonymised = decode(), decode("--anonymize-key", str(key))
    mapping = {**pairs, **dict(IPV6)}
    assert len(anonymised["flows"]) == 31
    for before, after in zip(plain["flows"], anonymised["flows"]):
        for field in ("src", "dst", "outer_src", "outer_dst"):
            assert after[field] == mapping[before[field]], (field, before[field])
        assert {k: v for k, v in after.items() if k not in ("src", "dst", "outer_src", "outer_dst")} == \
            {k: v for k, v in before.items() if k not in ("src", "dst", "outer_src", "outer_dst")}
    assert [(s["outer_src"], s["outer_dst"]) for s in anonymised["sessions"]] == [(pairs[raw[-1]], pairs[raw[-2]])]
    assert ipaddress.ip_address(anonymised["flows"][0]["src"])  # still addresses, of the same family


def test_decode_with_a_bad_key_is_one_line(tmp_path):
    capture = tmp_path / "c.pcap"
    write_pcap(capture, [erspan2()])
    short = tmp_path / "short"
    short.write_bytes(b"x" * 16)
    short.chmod(0o600)
    readable = tmp_path / "readable"
    readable.write_bytes(KEY)
    readable.chmod(0o644)
    for key, message in ((short, "must hold exactly 32 bytes (AES key, then pad), it holds 16"),
                         (readable, "is readable by others (chmod o-r)"),
                         (tmp_path / "absent", "cannot read")):
        result = subprocess.run([sys.executable, "-m", "sonic_agent", "decode", str(capture), "--anonymize-key",
                                 str(key)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 2
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
