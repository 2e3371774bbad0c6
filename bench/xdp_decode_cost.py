"""Per-frame cost of the XDP mirror decoder next to an empty XDP program, same run.

BPF_PROG_TEST_RUN runs each program `--repeat` times (1,000,000) on one frame: ERSPAN II with
an inner TCP/IPv4 packet, ERSPAN III with UDP/IPv4, ERSPAN III with the platform sub-header,
an inner 802.1Q tag and UDP/IPv6. The kernel reports the mean ns per run. The decoder runs as
deployed (mirror copies dropped after counting); every run must land in its flow, which is
checked afterwards. Repeats of one frame measure the steady state of an existing flow and
session (lookups and atomic adds; the sequence number does not advance). Then the same frames
with their stream captured for a job (each copied into the ring buffer, cut at 256 bytes), in
runs of 2,000 that the capture's thread drains in between: `capture_ns`, what a captured frame
costs (every other frame pays one array load for the capture check, included in decode_ns).
Target: decode_ns <= 100. Last line: `decode_ns=... empty_ns=... ratio=... capture_ns=...`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scapy.all import GRE, IP, TCP, UDP, Dot1Q, Ether, IPv6, Raw, raw  # noqa: E402
from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific  # noqa: E402

from sonic_agent.bpf import BpfObject, object_path  # noqa: E402
from sonic_agent.mirror.capture import KernelCapture  # noqa: E402
from sonic_agent.mirror.reader import Clock  # noqa: E402
from sonic_agent.mirror.xdp import XdpMirrorDecoder  # noqa: E402

OUTER = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / IP(src="10.1.0.1", dst="10.250.0.2", tos=32, ttl=255)
INNER = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
FRAMES = {
    "erspan2_tcp4": raw(OUTER / GRE(proto=0x88BE, seqnum_present=1, sequence_number=7) / ERSPAN_II(session_id=1)
                        / INNER / IP(src="172.31.1.2", dst="172.31.2.2", tos=0x20)
                        / TCP(sport=7001, dport=443, flags="PA") / Raw(b"y" * 200)),
    "erspan3_udp4": raw(OUTER / GRE(proto=0x22EB) / ERSPAN_III(session_id=2, gra=1, hw=1)
                        / INNER / IP(src="172.31.1.2", dst="172.31.2.2") / UDP(sport=5001, dport=6000) / Raw(b"x" * 64)),
    "erspan3_platform_vlan_udp6": raw(
        OUTER / GRE(proto=0x22EB, seqnum_present=1, sequence_number=9) / ERSPAN_III(session_id=3, d=1, o=1)
        / ERSPAN_PlatformSpecific(platf_id=3, info1=17, info2=0x12345678) / INNER / Dot1Q(vlan=100)
        / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5353, dport=53) / Raw(b"q" * 64)),
}


def measure(prog, frame: bytes, repeat: int, rounds: int) -> float:
    return statistics.median(prog.test_run(frame, repeat)[1] for _ in range(rounds))


CAPTURE_BATCH = 2000  # frames per run while capturing: what the ring buffer holds with room to spare


def capture_cost(decoder: XdpMirrorDecoder, rounds: int) -> float:
    """Mean ns per frame of the frames above with their streams captured, each run drained."""
    delivered = []
    capture = KernelCapture(decoder.obj, delivered.append, Clock())
    try:
        capture.set_streams([("10.1.0.1", "10.250.0.2", 0x88BE), ("10.1.0.1", "10.250.0.2", 0x22EB)], 256)
        costs = []
        for frame in FRAMES.values():
            for _ in range(rounds * 10):
                before = len(delivered)
                costs.append(decoder.program.test_run(frame, CAPTURE_BATCH)[1])
                deadline = time.monotonic() + 10
                while len(delivered) < before + CAPTURE_BATCH and time.monotonic() < deadline:
                    time.sleep(0.01)
        if capture.dropped() or len(delivered) != CAPTURE_BATCH * rounds * 10 * len(FRAMES):
            raise SystemExit(f"capture lost frames: {len(delivered)} delivered, {capture.dropped()} dropped")
        return statistics.mean(costs)
    finally:
        capture.set_streams([], 256)
        capture.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per frame and program (median)")
    args = parser.parse_args()

    with XdpMirrorDecoder() as decoder, BpfObject(str(object_path("empty_xdp.bpf.o"))) as empty_obj:
        empty = empty_obj.program("empty_xdp")
        rows = []
        for name, frame in FRAMES.items():
            d = measure(decoder.program, frame, args.repeat, args.rounds)
            e = measure(empty, frame, args.repeat, args.rounds)
            rows.append((d, e))
            print(f"{name:<28} len={len(frame):<4} decode_ns={d:<5.0f} empty_ns={e:.0f}")
        runs = args.repeat * args.rounds
        packets = sorted(f.packets for f in decoder.read().flows)
        if packets != [runs] * len(FRAMES) or decoder.read().stats["passed"]:
            print(f"counting path not taken: expected {runs} per flow, got {packets}, "
                  f"stats {decoder.read().stats}", file=sys.stderr)
            return 1
        print(f"counted: {runs} runs per frame, each in its flow; sessions "
              f"{sorted((s.gre_proto, s.session_id, s.packets) for s in decoder.read().sessions)}")
        capture_ns = capture_cost(decoder, args.rounds)
    decode_ns = statistics.mean(r[0] for r in rows)
    empty_ns = statistics.mean(r[1] for r in rows)
    print(f"decode_ns={decode_ns:.1f} empty_ns={empty_ns:.1f} ratio={decode_ns / empty_ns:.2f} capture_ns={capture_ns:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
