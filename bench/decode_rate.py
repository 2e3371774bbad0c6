#!/usr/bin/env python3
"""Mirror decoding rate: the erspan library against tshark and a per-packet struct parser.

All three read the same pcap of >= 300,000 frames cycling the real ERSPAN/GRE fixtures
(frames built with scapy when ../shared is absent), in one run, on this machine.
Also timed (not compared): the library on a file where every frame is a new flow, so the
flow table churns at its bound. Last line: decoder_pps=... tshark_pps=... ratio=...
(targets: >= 500,000 pps, ratio >= 4).
"""
from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mirror_corpus import corpus, crafted_frames  # noqa: E402
from struct_decoder import decode_file as struct_decode  # noqa: E402

from erspan import decode_capture, write_pcap  # noqa: E402


def best_time(func, runs: int) -> tuple:
    best, result = float("inf"), None
    for _ in range(runs):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def distinct_flows(count: int):
    """ERSPAN II frames whose inner IPv4 source differs in every frame."""
    base = bytearray(crafted_frames()[1])  # Ether, IPv4, GRE+seq, ERSPAN II, Ether, IPv4 (TCP)
    src = 14 + 20 + 8 + 8 + 14 + 12
    for i in range(count):
        base[src:src + 4] = (0x0A000000 + i).to_bytes(4, "big")
        yield bytes(base)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each decoder (the best is reported)")
    args = parser.parse_args(argv)
    frames = corpus()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mirror.pcap"
        count = write_pcap(path, itertools.islice(itertools.cycle(frames), args.frames),
                           (1_700_000_000 + i * 1e-5 for i in range(args.frames)))
        print(f"file: {count} frames cycling {len(frames)} fixture frames, {path.stat().st_size} bytes")
        path.read_bytes()  # page cache warm for everyone
        decoder_s, collector = best_time(lambda: decode_capture(path), args.runs)
        stats = collector.stats()
        print(f"library: {decoder_s:.3f} s, {stats['flow_packets']} packets in {stats['flows']} flows")
        struct_s, struct_flows = best_time(lambda: struct_decode(path), args.runs)
        struct_packets = sum(p for p, _ in struct_flows.values())
        print(f"struct parser: {struct_s:.3f} s, {struct_packets} packets in {len(struct_flows)} flows")
        tshark_s, _ = best_time(lambda: subprocess.run(
            ["tshark", "-q", "-z", "conv,ip", "-r", str(path)], check=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), args.runs)
        print(f"tshark -q -z conv,ip: {tshark_s:.3f} s")
        churn = Path(tmp) / "distinct.pcap"
        write_pcap(churn, distinct_flows(args.frames), (1_700_000_000 + i * 1e-5 for i in range(args.frames)))
        churn_s, churned = best_time(lambda: decode_capture(churn), args.runs)
        print(f"library, every frame a new flow: {args.frames / churn_s:.0f} pps, "
              f"{churned.stats()['flows']} flows kept, {churned.stats()['flow_evictions']} evicted")
    decoder_pps, tshark_pps, struct_pps = count / decoder_s, count / tshark_s, count / struct_s
    print(f"decoder_pps={decoder_pps:.0f} tshark_pps={tshark_pps:.0f} ratio={decoder_pps / tshark_pps:.1f} "
          f"struct_pps={struct_pps:.0f} struct_ratio={decoder_pps / struct_pps:.1f} frames={count}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
