"""Acceptance (issue 5): the lab's mirror generator sends ERSPAN II and III into the switch's
eth0; the XDP decoder there and a capture of the same frames decoded by the erspan library give
identical flow tables; a live run of 1,000,000 mirrored packets is counted to the packet."""
from __future__ import annotations

import re
import subprocess
import sys

from erspan import decode_capture, write_pcap
from telegen_lab.topology import MGMT_PORT
from tests.conftest import wait_until

from .compare import flow_table, session_table
from .live import Capture, attached


def send_mirror(layout, erspan: int, rounds: int) -> int:
    """`telegen-sonic lab traffic --kind mirror`: frames sent, as the generator reports them."""
    result = subprocess.run(
        [sys.executable, "-m", "sonic_agent", "lab", "--name", layout.name, "traffic", "--kind", "mirror",
         "--erspan", str(erspan), "--count", str(rounds), "--interval", "0"],
        capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr
    return int(re.search(r"sent (\d+) mirror frames", result.stdout).group(1))


def test_kernel_and_library_give_identical_flows(lab, make_decoder, tmp_path):
    capture = Capture(lab.switch_ns, MGMT_PORT)
    with attached(make_decoder(drop=False), lab.switch_ns, MGMT_PORT) as decoder:  # pass: capture sees all
        sent = sum(send_mirror(lab, erspan, rounds=50) for erspan in (2, 3))
        assert wait_until(lambda: decoder.read().stats["flow_packets"] >= sent, 10)
        frames, drops = capture.drain()
    capture.close()
    assert drops == 0
    write_pcap(tmp_path / "mirror.pcap", frames)
    expected = decode_capture(tmp_path / "mirror.pcap")
    flows = decoder.read().flows
    assert flow_table(flows) == flow_table(expected.flows())
    assert {f.erspan_type for f in flows} == {2, 3} and len(flows) >= 4
    assert decoder.read().stats["flow_packets"] == expected.stats()["flow_packets"] == sent
    assert session_table(decoder.read().sessions) == session_table(expected.sessions())


def test_live_run_counted_exactly(lab, make_decoder):
    """1,000,000 mirrored packets (ERSPAN II then III) through veth, dropped after counting."""
    with attached(make_decoder(), lab.switch_ns, MGMT_PORT) as decoder:
        per_round = send_mirror(lab, 2, rounds=1)
        rounds = -(-500_000 // per_round)
        sent = {2: per_round + send_mirror(lab, 2, rounds), 3: send_mirror(lab, 3, rounds + 1)}
        total = sum(sent.values())
        assert total >= 1_000_000
        wait_until(lambda: decoder.read().stats["flow_packets"] >= total, 10)
        stats, flows, sessions = decoder.read().stats, decoder.read().flows, decoder.read().sessions
    assert stats["flow_packets"] == total and stats["passed"] == stats["frames"] - total
    assert sum(f.packets for f in flows) == total
    by_type = {t: sum(f.packets for f in flows if f.erspan_type == t) for t in (2, 3)}
    assert by_type == sent
    by_proto = {s.gre_proto: (s.packets, s.passed) for s in sessions}
    assert by_proto == {0x88BE: (sent[2], 0), 0x22EB: (sent[3], 0)}
    # the generator numbers ERSPAN II frames 1..n per run: the second run starts over (late,
    # not lost), so nothing may count as lost
    assert [s.lost for s in sessions] == [0, 0]
