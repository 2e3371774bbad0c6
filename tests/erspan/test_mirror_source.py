"""The agent's afpacket mirror source on a real veth: records out, counters, clean stop."""
from __future__ import annotations

import subprocess
from pathlib import Path

from sonic_agent.config import MirrorConfig
from sonic_agent.mirror.records import SessionMatch
from sonic_agent.mirror.source import AfPacketMirrorSource

from ..conftest import assert_catalogued, wait_until
from .craft import erspan2, inner_frame, inner_tcp, variant
from .veth import send


def test_source_captures_decodes_and_reports(veth):
    a, b = veth
    flows = [erspan2(session_id=9, inner=inner_frame(inner_tcp(sport=2000 + k))) for k in range(3)]
    frames = [variant(flows[i % 3], seq=i) for i in range(1, 301)]
    source = AfPacketMirrorSource(MirrorConfig(enabled=True, interface=b, mode="afpacket", top_flows=2))
    source.start()
    try:
        assert send(a, frames, len(frames)).wait(30) == 0
        assert wait_until(lambda: source.read().counters["mirror_flow_packets_total"] >= 300, 10) is not None
        reading = source.read(lambda stream: SessionMatch("everflow") if stream.session_id == 9 else None)
    finally:
        source.stop()
    assert len(reading.flows) == 2 and all(r.packets == 100 and r.session == "everflow" for r in reading.flows)
    assert {(r.outer_src, r.outer_dst) for r in reading.flows} == {("10.0.0.1", "10.0.0.2")}
    assert [(s.session_id, s.packets, s.lost) for s in reading.sessions] == [(9, 300, 0)]
    counters = reading.counters
    assert_catalogued(counters)
    assert counters["mirror_capture_running"] == 1.0 and counters["mirror_capture_drops_total"] == 0
    assert "mirror_map_reads_total" not in counters  # no kernel maps on this path
    assert source.read().counters["mirror_capture_running"] == 0.0
    assert reading.malformed == {}


def test_capture_reopens_after_the_interface_is_recreated(veth):
    """The collector interface removed and re-created (or flapped): the ring is reopened with
    backoff and capture resumes; the restart is counted."""
    a, b = veth
    frame = erspan2(session_id=5, inner=inner_frame(inner_tcp(sport=3000)))
    frames = [variant(frame, seq=i) for i in range(1, 101)]
    source = AfPacketMirrorSource(MirrorConfig(enabled=True, interface=b, mode="afpacket"))
    source.start()
    try:
        subprocess.run(["ip", "link", "del", a], check=True)
        assert wait_until(lambda: source.read().counters["mirror_capture_running"] == 0.0, 5) is not None
        subprocess.run(["ip", "link", "add", a, "type", "veth", "peer", "name", b], check=True)
        for dev in (a, b):
            Path(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6").write_text("1")
            subprocess.run(["ip", "link", "set", dev, "up"], check=True)
        assert wait_until(lambda: source.read().counters["mirror_capture_running"] == 1.0, 10) is not None
        assert send(a, frames, len(frames)).wait(30) == 0
        assert wait_until(lambda: source.read().counters["mirror_flow_packets_total"] >= 100, 10) is not None
        assert source.read().counters["mirror_capture_restarts_total"] >= 1
        assert source._thread.is_alive()
    finally:
        source.stop()
    assert source.read().counters["mirror_capture_running"] == 0.0
