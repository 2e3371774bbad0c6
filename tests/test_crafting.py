"""Crafting frames sends nothing: every Ethernet header scapy builds here names both addresses
(scapy would otherwise resolve them from the host's routes, with ARP on the host's network),
and collecting the whole suite puts no packet on a network. Frames patched from one scapy built
are the frames scapy would build."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.erspan.craft import erspan2, inner_frame, inner_tcp, variant
from tests.probes.conftest import quiet_links

CRAFTING = ("tests", "bench", "vm-lab")  # where frames are built: the tests, the benchmarks, the lab's traffic
ADDRESSED = ("Ether", "Dot3")  # scapy layers whose missing src/dst scapy fills in by resolving


def unaddressed(path: Path):
    """Lines of `path` building an Ethernet header from fields without naming src and dst."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call) or node.args:  # Ether(raw_bytes) parses, it does not build
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
        if name in ADDRESSED and not {"src", "dst"} <= {k.arg for k in node.keywords}:
            yield node.lineno


def test_every_crafted_ethernet_header_names_both_addresses():
    found = {str(path.relative_to(REPO)): lines for top in CRAFTING for path in sorted((REPO / top).rglob("*.py"))
             if (lines := sorted(unaddressed(path)))}
    assert found == {}


def test_collecting_the_suite_sends_nothing(netns_pair):
    """Collection (which builds every module-level frame) in a namespace whose default route
    leads to a peer: the peer receives nothing, not even an ARP request."""
    ns_a, dev_a, ns_b, dev_b = netns_pair
    quiet_links((ns_a, dev_a), (ns_b, dev_b))
    for cmd in (["addr", "add", "198.18.0.1/24", "dev", dev_a], ["route", "add", "default", "via", "198.18.0.2"]):
        subprocess.run(["ip", "-n", ns_a, *cmd], check=True)

    def received() -> int:
        (link,) = json.loads(subprocess.run(["ip", "-n", ns_b, "-s", "-j", "link", "show", dev_b], capture_output=True,
                                            text=True, check=True).stdout)
        return link["stats64"]["rx"]["packets"]

    before = received()  # an IPv6 packet can leave as the links come up, before quiet_links
    collected = subprocess.run(["nsenter", f"--net=/run/netns/{ns_a}", sys.executable, "-m", "pytest", "--collect-only",
                                "-q", "-p", "no:cacheprovider", "tests"], cwd=REPO, capture_output=True, text=True,
                               timeout=120)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert received() == before


@pytest.mark.parametrize("seq, session_id, sport", [(1, 5, 40000), (0xFFFFFFFF, 1023, 0), (77, 0, 65535), (2, 300, 1)])
def test_variants_are_the_frames_scapy_builds(seq, session_id, sport):
    base = erspan2(seq=9, session_id=12, inner=inner_frame(inner_tcp(sport=1234, flags="A")))
    built = erspan2(seq=seq, session_id=session_id, inner=inner_frame(inner_tcp(sport=sport, flags="A")))
    assert variant(base, seq=seq, session_id=session_id, sport=sport) == built
