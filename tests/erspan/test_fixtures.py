"""Every ERSPAN/GRE fixture in ../shared decodes to its .expected.txt and agrees with tshark.

The expected files hold a reference decode (per inner flow: packets and IP bytes, VLANs;
per session: encapsulation, ERSPAN session id, packets; GRE sequence gaps) and a tshark
cross-check. tshark is also run here on each file, field by field. Failures name the file
and the flow.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict

import pytest

from erspan import decode_capture
from tests.conftest import SHARED, require, shared_path

FIXTURES = sorted(p.name[:-len(".expected.txt")]
                  for p in (SHARED / "fixtures" / "pcaps").glob("*.expected.txt")) or ["(absent)"]
FLOW_LINE = re.compile(r"^\s+(\S+) (\d+) > (\S+) (\d+) p(\d+) vl=\[([\d, ]*)\] ev=(\S+) : (\d+) (\d+)")
SESSION_LINE = re.compile(r"^\s+(\S+) > (\S+)\s+(\S+)\s+sid=(\S+) : (\d+)$")
ENCAP_GRE_PROTO = {"I": 0x88BE, "II": 0x88BE, "III": 0x22EB, "III-ft7": 0x22EB, "TEB": 0x6558,
                   "GRE-IP": 0x0800}
PORTLESS = (0, None)


def expected_decode(name: str) -> dict:
    text = shared_path("fixtures", "pcaps", f"{name}.expected.txt").read_text()
    reference = text.split("REFERENCE DECODE", 1)[1].split("TSHARK", 1)[0]
    flows, sessions, sequences, frames = {}, {}, {}, None
    for line in reference.splitlines():
        if (m := FLOW_LINE.match(line)):
            src, sport, dst, dport, proto, tags, ev, pkts, octets = m.groups()
            tags = [int(t) for t in tags.replace(" ", "").split(",") if t]
            vlan = tags[0] if tags else (None if ev == "None" or ev == "0" else int(ev))
            flows[(src, int(sport), dst, int(dport), int(proto), vlan)] = (int(pkts), int(octets))
        elif (m := SESSION_LINE.match(line)):
            src, dst, encap, sid, pkts = m.groups()
            key = (src, dst, ENCAP_GRE_PROTO[encap], None if sid == "None" else int(sid))
            sessions[key] = sessions.get(key, 0) + int(pkts)
        elif line.strip().startswith("stats:"):
            frames = json.loads(line.split(":", 1)[1])["frames"]
        elif line.strip().startswith("gre sequence:"):
            for stream, seq in json.loads(line.split(":", 1)[1]).items():
                outer, rest = stream.split(" proto=")
                proto, sid = rest.split(" sid=")
                sequences[tuple(outer.split(">")) + (int(proto, 16), int(sid))] = seq["missing"]
    return {"flows": flows, "sessions": sessions, "sequences": sequences, "frames": frames}


def differences(name: str, what: str, expected: dict, decoded: dict) -> list:
    return [f"{name}: {what} {key}: expected {expected.get(key)}, decoded {decoded.get(key)}"
            for key in sorted(set(expected) | set(decoded), key=str)
            if expected.get(key) != decoded.get(key)]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_decodes_to_expected(name):
    pcap = shared_path("fixtures", "pcaps", f"{name}.pcap")
    expected = expected_decode(name)
    collector = decode_capture(pcap)
    flows = defaultdict(lambda: (0, 0))
    for f in collector.flows():
        key = (f.src, f.sport or 0, f.dst, f.dport or 0, f.proto, f.vlan)
        flows[key] = (flows[key][0] + f.packets, flows[key][1] + f.bytes)
    sessions = {(s.outer_src, s.outer_dst, s.gre_proto, s.session_id): s.packets
                for s in collector.sessions()}
    lost = {(s.outer_src, s.outer_dst, s.gre_proto, s.session_id): s.lost
            for s in collector.sessions() if s.session_id is not None}
    problems = (differences(name, "flow", expected["flows"], dict(flows))
                + differences(name, "session", expected["sessions"], sessions)
                + differences(name, "lost in session", expected["sequences"],
                              {k: v for k, v in lost.items() if k in expected["sequences"]}))
    if collector.stats()["frames"] != expected["frames"]:
        problems.append(f"{name}: frames: expected {expected['frames']}, read {collector.stats()['frames']}")
    if collector.stats()["malformed"]:
        problems.append(f"{name}: nothing in these captures is malformed: {collector.stats()['malformed']}")
    assert not problems, "\n".join(problems)


def tshark_flows(pcap) -> dict:
    """(inner src, dst, proto) -> [packets, ip bytes, {session ids}, {vlans}, {directions}]."""
    out = subprocess.run(
        ["tshark", "-r", str(pcap), "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=,",
         "-e", "frame.protocols", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto", "-e", "ip.len",
         "-e", "erspan.spanid", "-e", "erspan.vlan", "-e", "vlan.id", "-e", "erspan.direction"],
        check=True, capture_output=True, text=True).stdout
    flows = {}
    for line in out.splitlines():
        protocols, src, dst, proto, length, spanid, erspan_vlan, vlan_ids, direction = line.split("\t")
        layers = protocols.split(":")
        if "gre" not in layers or src.count(",") < 1:
            continue  # only mirrored IPv4 packets inside GRE, as the expected cross-check
        outer_tags = layers[:layers.index("gre")].count("vlan")
        tags = [int(v) for v in vlan_ids.split(",") if v][outer_tags:]
        ev = int(erspan_vlan) if erspan_vlan else 0
        vlan = tags[0] if tags else (ev or None)
        key = (src.split(",")[-1], dst.split(",")[-1], int(proto.split(",")[-1]))
        entry = flows.setdefault(key, [0, 0, set(), set(), set()])
        entry[0] += 1
        entry[1] += int(length.split(",")[-1])
        entry[2].add(int(spanid) if spanid else None)
        entry[3].add(vlan)
        entry[4].add({"0": "rx", "1": "tx", "": None}[direction])
    return flows


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_agrees_with_tshark(name):
    pcap = shared_path("fixtures", "pcaps", f"{name}.pcap")
    require(shutil.which("tshark") is not None, "needs tshark (apt-get install tshark)")
    ours = {}
    for f in decode_capture(pcap).flows():
        if ":" in f.src:
            continue  # tshark's side of the comparison is inner IPv4
        entry = ours.setdefault((f.src, f.dst, f.proto), [0, 0, set(), set(), set()])
        entry[0] += f.packets
        entry[1] += f.bytes
        entry[2].add(f.session_id)
        entry[3].add(f.vlan)
        entry[4].add(f.direction)
    assert not (problems := differences(name, "flow (src, dst, proto)", tshark_flows(pcap), ours)), \
        "\n".join(problems)
