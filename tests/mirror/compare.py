"""What the kernel and userspace paths must agree on, and how frames are fed to each."""
from __future__ import annotations

from erspan import MirrorCollector

XDP_DROP, XDP_PASS = 1, 2


def flow_table(flows):
    """Flows by the library's key (the mirror stream first), with the counters both paths produce."""
    return {(f.outer_src, f.outer_dst, f.gre_proto, f.session_id, f.erspan_type, f.direction, f.vlan, f.src,
             f.dst, f.proto, f.sport, f.dport): (f.packets, f.bytes, f.tcp_flags, f.dscp, f.port_index)
            for f in flows}


def session_table(sessions):
    return {(s.outer_src, s.outer_dst, s.gre_proto, s.session_id): (s.packets, s.lost, s.truncated)
            for s in sessions}


def run_frames(decoder, frames):
    """Each frame through the XDP program once (BPF_PROG_TEST_RUN); the XDP verdicts."""
    return [decoder.program.test_run(frame)[0] for frame in frames]


def library(frames, **options) -> MirrorCollector:
    collector = MirrorCollector(**options)
    collector.add_packets(frames)
    return collector
