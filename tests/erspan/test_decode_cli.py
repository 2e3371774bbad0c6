"""`telegen-sonic decode FILE`: JSON and table output of generated captures; bad files exit 2."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scapy.layers.inet import IP, UDP

from tests.conftest import shared_path

from .craft import erspan2, erspan3, eth, inner_frame, inner_tcp, write_pcap

FLOW_FIELDS = {"outer_src", "outer_dst", "gre_proto", "erspan_type", "session_id", "direction", "vlan", "src",
               "dst", "proto", "sport", "dport", "packets", "bytes", "tcp_flags"}
SESSION_FIELDS = {"outer_src", "outer_dst", "gre_proto", "session_id", "packets", "lost", "truncated"}


def decode(path, *options):
    return subprocess.run([sys.executable, "-m", "sonic_agent", "decode", str(path), *options],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def capture(tmp_path):
    path = tmp_path / "mirror.pcap"
    ospf = IP(src="10.9.9.9", dst="224.0.0.5", proto=89) / (b"o" * 20)
    write_pcap(path, [erspan2(seq=1, session_id=4), erspan2(seq=3, session_id=4),
                      erspan3(inner_frame(vlan=7), direction=1, session_id=2),
                      erspan2(inner=inner_frame(ospf), seq=4, session_id=4),
                      erspan2(seq=5, session_id=4)[:46], bytes(eth() / IP() / UDP())])
    return path


def test_json(capture):
    result = decode(capture, "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert set(document) == {"flows", "sessions", "stats"}
    flows = {(f["erspan_type"], f["session_id"], f["proto"]): f for f in document["flows"]}
    assert all(FLOW_FIELDS <= set(f) for f in document["flows"])
    tcp = flows[(2, 4, 6)]
    assert (tcp["packets"], tcp["bytes"], tcp["tcp_flags"], tcp["direction"], tcp["vlan"]) == \
        (2, 2 * len(inner_tcp()), 0x02, None, None)
    assert (tcp["sport"], tcp["dport"], tcp["src"], tcp["dst"]) == (40000, 443, "192.0.2.1", "198.51.100.7")
    assert (tcp["outer_src"], tcp["outer_dst"], tcp["gre_proto"]) == ("10.0.0.1", "10.0.0.2", 0x88BE)
    ospf = flows[(2, 4, 89)]
    assert (ospf["sport"], ospf["dport"], ospf["tcp_flags"], ospf["bytes"]) == (None, None, None, 40)
    assert (flows[(3, 2, 6)]["direction"], flows[(3, 2, 6)]["vlan"]) == ("tx", 7)
    sessions = {s["session_id"]: s for s in document["sessions"]}
    assert all(SESSION_FIELDS <= set(s) for s in document["sessions"])
    assert (sessions[4]["packets"], sessions[4]["lost"], sessions[4]["gre_proto"]) == (4, 1, 0x88BE)
    assert sessions[4]["outer_src"] == "10.0.0.1" and sessions[2]["gre_proto"] == 0x22EB
    stats = document["stats"]
    assert (stats["frames"], stats["malformed"], stats["skipped"]) == \
        (6, {"erspan_truncated": 1}, {"not_mirror": 1})


def test_table(capture):
    result = decode(capture)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["OUTER_SRC", "ERSPAN", "SID", "DIR", "VLAN", "SRC", "SPORT", "DST", "DPORT",
                                "PROTO", "PACKETS", "BYTES", "TCP"]
    assert "10.0.0.1 2 4 - - 192.0.2.1 40000 198.51.100.7 443 6 2 120 S" in [" ".join(line.split()) for line in lines]
    assert any(line.split()[:4] == ["10.0.0.1", "10.0.0.2", "0x88be", "4"] for line in lines)
    assert lines[-1] == "frames 6, in flows 4, malformed erspan_truncated=1, skipped not_mirror=1"


@pytest.mark.parametrize("content", [None, b"", b"not a capture at all"])
def test_bad_file_exits_2_with_one_line(tmp_path, content):
    path = tmp_path / "bad.pcap"
    if content is not None:
        path.write_bytes(content)
    result = decode(path)
    assert result.returncode == 2
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1
    assert str(path) in result.stderr


def test_fixture_through_the_cli():
    result = decode(shared_path("fixtures", "pcaps", "zeek__erspanII.pcap"), "--format", "json")
    document = json.loads(result.stdout)
    assert sorted((f["src"], f["packets"], f["bytes"], f["vlan"]) for f in document["flows"]) == \
        [("23.0.0.2", 2, 200, 23), ("23.0.0.3", 2, 200, 23)]
