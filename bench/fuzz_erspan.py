#!/usr/bin/env python3
"""Fuzz the erspan library with mutated and truncated mirror frames; no input may raise.

A seeded numpy mutator starts from the real fixtures' frames (or scapy-built frames of every
encapsulation without ../shared) and, per frame, overwrites header bytes with random or
boundary values, truncates, does both, or substitutes random bytes; link types, capture
lengths and the decoder's mode (mirror or SPAN, vendor header length) vary too. Every batch
must also account for each frame exactly once (flow, malformed or skipped).
Last line: packets=... exceptions=... malformed=...
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mirror_corpus import corpus  # noqa: E402

from erspan import MirrorCollector  # noqa: E402
from erspan.frames import PAD, Frames  # noqa: E402

WIDTH = 192  # bytes kept of each base frame: every header lies within them
HEADER_SPAN = 120  # mutations land in the first bytes, where the headers are
BOUNDARY = np.array([0x00, 0x01, 0x02, 0x04, 0x06, 0x08, 0x0F, 0x10, 0x11, 0x22, 0x2F, 0x3A, 0x40, 0x45,
                     0x4F, 0x58, 0x60, 0x65, 0x7F, 0x80, 0x81, 0x86, 0x88, 0x89, 0x8C, 0xA8, 0xBE, 0xDD,
                     0xEB, 0xFE, 0xFF], dtype=np.uint8)
LINKTYPES = np.array([1, 1, 1, 1, 1, 1, 0, 101, 113, 228, 229, 147])


def base_frames(frames) -> tuple:
    table = np.zeros((len(frames), WIDTH), dtype=np.uint8)
    lengths = np.array([min(len(f), WIDTH) for f in frames])
    for i, frame in enumerate(frames):
        table[i, :lengths[i]] = np.frombuffer(frame[:WIDTH], dtype=np.uint8)
    return table, lengths


def mutate(rng, table, lengths, n: int) -> Frames:
    pick = rng.integers(0, len(table), n)
    rows, caplen = table[pick].copy(), lengths[pick].copy()
    kind = rng.integers(0, 5, n)  # 0 random bytes, 1 boundary bytes, 2 truncate, 3 both, 4 noise
    edits = (np.arange(8) < rng.integers(1, 9, n)[:, None]) & np.isin(kind, (0, 1, 3))[:, None]
    r, c = np.nonzero(edits)
    where = rng.integers(0, HEADER_SPAN, len(r))
    values = np.where(kind[r] == 1, rng.choice(BOUNDARY, len(r)), rng.integers(0, 256, len(r)))
    rows[r, where] = values
    cut = np.isin(kind, (2, 3))
    caplen[cut] = rng.integers(0, caplen[cut] + 1)
    noise = kind == 4
    rows[noise] = rng.integers(0, 256, (int(noise.sum()), WIDTH))
    caplen[noise] = rng.integers(0, WIDTH + 1, int(noise.sum()))
    data = np.zeros(n * WIDTH + PAD, dtype=np.uint8)
    data[:n * WIDTH] = rows.ravel()
    wirelen = caplen + rng.integers(0, 2, n) * rng.integers(0, 1500, n)
    return Frames(data, np.arange(n, dtype=np.int64) * WIDTH, caplen.astype(np.int64), wirelen,
                  np.sort(rng.random(n)) + 1.7e9, rng.choice(LINKTYPES, n))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    table, lengths = base_frames(corpus())
    collectors = [MirrorCollector(max_flows=4096, max_sessions=256),
                  MirrorCollector(max_flows=4096, max_sessions=256, span=True),
                  MirrorCollector(max_flows=4096, max_sessions=256, vendor_header_len=0)]
    done = exceptions = unaccounted = 0
    while done < args.packets:
        n = min(args.batch, args.packets - done)
        frames = mutate(rng, table, lengths, n)
        collector = collectors[(done // args.batch) % len(collectors)]
        before = collector.stats()
        try:
            collector.add_frames(frames)
        except Exception:  # the point of the run: count and show, never stop
            exceptions += 1
            traceback.print_exc()
        after = collector.stats()
        counted = after["flow_packets"] - before["flow_packets"] + sum(
            after[k].get(r, 0) - before[k].get(r, 0) for k in ("malformed", "skipped") for r in after[k])
        unaccounted += abs(n - counted)
        done += n
    malformed = sum(sum(c.stats()["malformed"].values()) for c in collectors)
    skipped = sum(sum(c.stats()["skipped"].values()) for c in collectors)
    flowed = sum(c.stats()["flow_packets"] for c in collectors)
    print(f"seed {args.seed}: {flowed} frames decoded to flows, {skipped} skipped, "
          f"flow tables {[c.stats()['flows'] for c in collectors]}")
    print(f"packets={done} exceptions={exceptions} malformed={malformed} unaccounted={unaccounted}")
    return 1 if exceptions or unaccounted else 0


if __name__ == "__main__":
    sys.exit(main())
