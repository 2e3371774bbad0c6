"""No input raises: the seeded mutator of bench/fuzz_erspan.py (short here, 1M marked long)
and hypothesis-generated frames, each accounted for exactly once."""
from __future__ import annotations

import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from erspan import MirrorCollector
from tests.conftest import REPO

from .craft import erspan2, erspan3, erspan3_platform, gre, inner_frame, udp_packet

SEEDS = [erspan2(), erspan3(platform=erspan3_platform(), seq=3), erspan3(ft=2, inner=udp_packet()),
         gre(0x8949, bytes(22) + bytes(inner_frame())), gre(0x86DD, udp_packet())]


def run_fuzzer(packets: int) -> dict:
    out = subprocess.run([sys.executable, str(REPO / "bench" / "fuzz_erspan.py"), "--packets", str(packets)],
                         capture_output=True, text=True, timeout=600)
    last = out.stdout.strip().splitlines()[-1]
    figures = dict(re.findall(r"(\w+)=(\d+)", last))
    assert out.returncode == 0, out.stdout + out.stderr
    return {k: int(v) for k, v in figures.items()}


def test_fuzz_short():
    figures = run_fuzzer(20_000)
    assert figures["packets"] == 20_000
    assert figures["exceptions"] == 0 and figures["unaccounted"] == 0
    assert figures["malformed"] > 1000  # mutated headers are counted as malformed


@pytest.mark.long
def test_fuzz_one_million():
    figures = run_fuzzer(1_000_000)
    assert (figures["packets"], figures["exceptions"], figures["unaccounted"]) == (1_000_000, 0, 0)


def accounted(collector, n):
    stats = collector.stats()
    return stats["flow_packets"] + sum(stats["malformed"].values()) + sum(stats["skipped"].values()) == n


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=160), min_size=1, max_size=20), st.sampled_from([0, 1, 101, 113, 228]),
       st.booleans())
def test_random_bytes(frames, linktype, span):
    collector = MirrorCollector(span=span)
    collector.add_packets(frames, linktype=linktype)
    assert accounted(collector, len(frames))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 119), st.integers(0, 255)), max_size=6),
       st.integers(0, 200))
def test_mutated_mirror_frames(seed, edits, cut):
    frame = bytearray(seed)
    for where, value in edits:
        if where < len(frame):
            frame[where] = value
    collector = MirrorCollector()
    collector.add_packets([bytes(frame[:cut]), bytes(frame)])
    assert accounted(collector, 2)
