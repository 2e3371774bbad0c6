"""Acceptance (issue 5), on the lab: the lab's ASIC mirror copies the data traffic crossing two
mirrored ports as ERSPAN II and III into the switch's eth0; the XDP decoder there and a capture
of the same frames decoded by the erspan library give identical flow tables. A live run of
1,000,000 mirrored packets is counted to the packet: for that many, the copies are crafted here
(the lab's mirror, in Python, copies thousands of frames a second, not a million in seconds)."""
from __future__ import annotations

import struct

import pytest
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.layers.inet import IP
from scapy.layers.l2 import GRE, Ether

from erspan import decode_capture, write_pcap
from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab.topology import MGMT_PORT
from telegen_lab.traffic import Sender, build_round, data_frames, read_links
from tests.conftest import wait_until
from tests.jobs.lab import Traffic
from tests.probes.conftest import netns

from .compare import flow_table
from .live import Capture, attached

SESSIONS = {"xdp-erspan2": ("0x88be", "Ethernet0"), "xdp-erspan3": ("0x22eb", "Ethernet4")}
GRE_SEQ_OFFSET = 14 + 20 + 4  # outer Ethernet, IPv4 without options, GRE flags and protocol


@pytest.fixture
def mirrored_ports(lab):
    """Ethernet0 mirrored as ERSPAN II and Ethernet4 as ERSPAN III while the test runs."""
    dbs = load_database_config(str(lab.db_config))
    config, state = dbs.connect("CONFIG_DB"), dbs.connect("STATE_DB")
    for name, (gre_type, port) in SESSIONS.items():
        config.hset(f"MIRROR_SESSION|{name}", mapping={"type": "ERSPAN", "src_ip": "10.1.0.1", "dst_ip": "10.250.0.2",
                                                       "gre_type": gre_type, "src_port": port, "direction": "BOTH"})
    assert wait_until(lambda: all(state.hget(f"MIRROR_SESSION_TABLE|{n}", "status") == "active" for n in SESSIONS), 2)
    yield
    config.delete(*(f"MIRROR_SESSION|{name}" for name in SESSIONS))
    assert wait_until(lambda: not any(state.exists(f"MIRROR_SESSION_TABLE|{n}") for n in SESSIONS), 2)


def data_flows(flows):
    """The flows of the data traffic the test sends (UDP to 6000, TCP to 443): the lab's kernel
    also sends neighbor discovery across mirrored ports, some of it before the decoder attached."""
    return flow_table([f for f in flows if (f.proto, f.dport) in ((17, 6000), (6, 443))])


def test_kernel_and_library_give_identical_flows(lab, make_decoder, tmp_path, mirrored_ports):
    capture = Capture(lab.switch_ns, MGMT_PORT)
    frames, rounds = [], 20
    with attached(make_decoder(drop=False), lab.switch_ns, MGMT_PORT) as decoder:  # pass: capture sees all
        sent = [f for _ in range(rounds) for f in build_round(lab, "data")]
        Traffic(lab).send(sent)

        def settled():  # every round's copies counted by the decoder, and in the capture too
            frames.extend(capture.drain()[0])
            kernel = data_flows(decoder.read().flows)
            whole = kernel and all(packets % rounds == 0 for packets, *_ in kernel.values())
            return whole and kernel == data_flows(library_of(frames, tmp_path).flows())
        assert wait_until(settled, 10)
        _, drops = capture.drain()
    capture.close()
    assert drops == 0
    flows, expected = decoder.read().flows, library_of(frames, tmp_path).flows()
    assert data_flows(flows) == data_flows(expected)
    assert {f.erspan_type for f in flows} >= {2, 3} and len(data_flows(flows)) >= 4
    by_port = {(f.erspan_type, f.port_index) for f in flows}  # each session names its port (CONFIG_DB index)
    assert {(2, 1), (3, 2)} <= by_port
    assert {f.direction for f in flows if f.erspan_type == 3} == {"rx", "tx"}  # ERSPAN III says which
    assert all(s.lost == 0 for s in decoder.read().sessions)


def library_of(frames, tmp_path):
    write_pcap(tmp_path / "mirror.pcap", frames)
    return decode_capture(tmp_path / "mirror.pcap")


def crafted_copies(layout, erspan: int):
    """ERSPAN copies of the lab's data frames, as an ASIC would send them into eth0."""
    links = read_links(layout)
    mgmt, ordered = links[MGMT_PORT], sorted(links)
    outer = Ether(src=mgmt.mac, dst=mgmt.switch_mac) / IP(src="10.1.0.1", dst="10.250.0.2", tos=32, proto=47)
    out = []
    for port in ("Ethernet0", "Ethernet4"):
        for inner in data_frames(links[port], ordered.index(port) + 1, links):
            header = (GRE(proto=0x22EB) / ERSPAN_III(session_id=1, gra=1, hw=1) if erspan == 3
                      else GRE(proto=0x88BE, seqnum_present=1) / ERSPAN_II(session_id=1))
            out.append(bytearray(bytes(outer / header / Ether(inner))))
    return out


def send_copies(layout, copies, rounds: int) -> int:
    """`rounds` of the copies into eth0; ERSPAN II ones numbered 1, 2, ... as an ASIC would."""
    with netns(layout.neighbor_ns):
        sender = Sender([MGMT_PORT])
    send, sent = sender.sockets[MGMT_PORT].send, 0
    numbered = struct.unpack_from("!H", copies[0], GRE_SEQ_OFFSET - 2)[0] == 0x88BE
    try:
        for _ in range(rounds):
            for frame in copies:
                sent += 1
                if numbered:
                    struct.pack_into("!I", frame, GRE_SEQ_OFFSET, sent & 0xFFFFFFFF)
                send(frame)
    finally:
        sender.close()
    return sent


def test_live_run_counted_exactly(lab, make_decoder):
    """1,000,000 mirrored packets (ERSPAN II then III) through veth, dropped after counting."""
    with attached(make_decoder(), lab.switch_ns, MGMT_PORT) as decoder:
        copies = {erspan: crafted_copies(lab, erspan) for erspan in (2, 3)}
        rounds = -(-500_000 // len(copies[2]))
        sent = {erspan: send_copies(lab, copies[erspan], rounds) for erspan in (2, 3)}
        total = sum(sent.values())
        assert total >= 1_000_000
        wait_until(lambda: decoder.read().stats["flow_packets"] >= total, 10)
        reading = decoder.read()
    # session id 1 is the crafted copies' (the lab's own mirror of its kernel's traffic goes on)
    flows = [f for f in reading.flows if f.session_id == 1]
    sessions = [s for s in reading.sessions if s.session_id == 1]
    assert sum(f.packets for f in flows) == total
    by_type = {t: sum(f.packets for f in flows if f.erspan_type == t) for t in (2, 3)}
    assert by_type == sent
    by_proto = {s.gre_proto: (s.packets, s.passed) for s in sessions}
    assert by_proto == {0x88BE: (sent[2], 0), 0x22EB: (sent[3], 0)}
    assert [s.lost for s in sessions] == [0, 0]  # numbered 1..n without a gap
