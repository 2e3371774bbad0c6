"""The agent's afpacket mirror source on a real veth: records out, counters, clean stop."""
from __future__ import annotations

import time

from sonic_agent.config import MirrorConfig
from sonic_agent.mirror.records import SessionMatch
from sonic_agent.mirror.source import AfPacketMirrorSource

from .craft import erspan2, inner_frame, inner_tcp
from .veth import send


def test_source_captures_decodes_and_reports(veth):
    a, b = veth
    frames = [erspan2(seq=i, session_id=9, inner=inner_frame(inner_tcp(sport=2000 + i % 3))) for i in range(1, 301)]
    source = AfPacketMirrorSource(MirrorConfig(enabled=True, interface=b, mode="afpacket", top_flows=2))
    source.start()
    try:
        assert send(a, frames, len(frames)).wait(30) == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and source.agent_counters()["mirror_flow_packets_total"] < 300:
            time.sleep(0.05)
        records = source.flow_records(lambda stream: SessionMatch("everflow") if stream.session_id == 9 else None)
        sessions = source.session_records()
        counters = source.agent_counters()
    finally:
        source.stop()
    assert len(records) == 2 and all(r.packets == 100 and r.session == "everflow" for r in records)
    assert [(s.session_id, s.packets, s.lost) for s in sessions] == [(9, 300, 0)]
    assert counters["mirror_capture_running"] == 1.0 and counters["mirror_capture_drops_total"] == 0
    assert source.agent_counters()["mirror_capture_running"] == 0.0
    assert source.malformed() == {}
