"""Attach/detach following the desired set, foreign XDP programs left alone, a SIGKILLed
agent's programs taken over (never stacked), SIGTERM leaving nothing, kernel drop reasons."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys

import pytest

from sonic_agent.bpf import BpfObject, object_path
from sonic_agent.bpf import netattach as na
from sonic_agent.config import ProbesConfig
from sonic_agent.probes import ProbeManager, ProbeMaps
from tests.conftest import REPO, bpftool_net, require, wait_until

from .conftest import netns, send_frames
from .frames import FRAMES

pytestmark = pytest.mark.root
BGP = dict(FRAMES)["bgp"]


def programs(ns: str) -> dict:
    """{'xdp': [(dev, prog name)], 'tc': [(dev, hook, prog name)]} as bpftool sees them."""
    out = bpftool_net(ns)
    names = {p["id"]: p.get("name", "") for p in json.loads(subprocess.run(
        ["bpftool", "prog", "show", "-j"], check=True, capture_output=True, text=True).stdout)}
    return {"xdp": sorted((x["devname"], names.get(x["id"], "?")) for x in out.get("xdp", [])),
            "tc": sorted((t["devname"], t["kind"], names.get(t["id"], "?")) for t in out.get("tc", []))}


def rx_bgp(manager, port):
    return next(c.packets for c in manager.read(10).counts if (c.port, c.direction, c.klass) == (port, "rx", "bgp"))


def test_sync_attaches_and_detaches(probed_pair, probe_object):
    ns_a, dev_a, _, _, pin_dir = probed_pair
    subprocess.run(["ip", "-n", ns_a, "link", "add", "extra0", "type", "veth", "peer", "name", "extra1"], check=True)
    with netns(ns_a):
        mgr = ProbeManager(ProbesConfig(pin_dir=pin_dir), obj_path=str(probe_object))
        try:
            mgr.sync([dev_a, "extra0", "Ethernet404"])  # a port whose netdev does not exist yet
            assert sorted(mgr.ports) == sorted([dev_a, "extra0"])
            assert programs(ns_a)["tc"] == sorted([(dev_a, "clsact/egress", "tgs_probe_tc_eg"),
                                                      ("extra0", "clsact/egress", "tgs_probe_tc_eg")])
            mgr.sync([dev_a])
            assert list(mgr.ports) == [dev_a]
            assert programs(ns_a) == {"xdp": [(dev_a, "tgs_probe_xdp")],
                                         "tc": [(dev_a, "clsact/egress", "tgs_probe_tc_eg")]}
            assert {c.port for c in mgr.read(10).counts} == {dev_a}
            assert len(mgr.maps.maps["port_counts"].items()) == 2  # the removed port's counters are gone
        finally:
            mgr.close()
    assert programs(ns_a) == {"xdp": [], "tc": []}


def test_foreign_xdp_is_kept_and_ingress_counted_with_tc(probed_pair, probe_object):
    ns_a, dev_a, ns_b, dev_b, pin_dir = probed_pair
    with netns(ns_a), BpfObject(str(object_path("empty_xdp.bpf.o"))) as other:
        ifindex = socket.if_nametoindex(dev_a)
        na.xdp_attach(ifindex, other.program("empty_xdp").fd)
        mgr = ProbeManager(ProbesConfig(pin_dir=pin_dir), obj_path=str(probe_object))
        try:
            mgr.sync([dev_a])
            assert mgr.ports[dev_a].ingress == "tc"
            counters = mgr.read(10).counters
            assert counters["probes_xdp_fallbacks_total"] == 1 and counters["probes_ports_tc_ingress"] == 1
            assert programs(ns_a)["xdp"] == [(dev_a, "empty_xdp")]
            send_frames(ns_b, dev_b, [BGP] * 5)
            assert wait_until(lambda: rx_bgp(mgr, dev_a) == 5)
        finally:
            mgr.close()
        assert programs(ns_a) == {"xdp": [(dev_a, "empty_xdp")], "tc": []}
        na.xdp_detach(ifindex, other.program("empty_xdp").fd, na.xdp_query(ifindex)[1])


def start_agent(ns: str, pin_dir: str, *ifnames: str) -> subprocess.Popen:
    """The probes alone in their own process, in `ns` (nsenter: the network namespace only;
    `ip netns exec` would remount /sys and hide bpffs)."""
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-m", "sonic_agent.probes",
                             "--pin-dir", pin_dir, *ifnames], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline(), f"probe agent exited with {proc.wait(10)}"
    return proc


def test_sigkill_restart_takes_over_and_sigterm_leaves_nothing(probed_pair):
    ns_a, dev_a, ns_b, dev_b, pin_dir = probed_pair
    subprocess.run(["ip", "-n", ns_a, "link", "add", "gone0", "type", "veth", "peer", "name", "gone1"], check=True)
    one = {"xdp": [(dev_a, "tgs_probe_xdp")], "tc": [(dev_a, "clsact/egress", "tgs_probe_tc_eg")]}
    first = start_agent(ns_a, pin_dir, dev_a, "gone0")
    send_frames(ns_b, dev_b, [BGP] * 3)
    first.kill()
    first.wait(10)
    # a SIGKILL leaves the programs (and the pinned maps)
    assert programs(ns_a) == {"xdp": sorted(one["xdp"] + [("gone0", "tgs_probe_xdp")]),
                                 "tc": sorted(one["tc"] + [("gone0", "clsact/egress", "tgs_probe_tc_eg")])}
    send_frames(ns_b, dev_b, [BGP] * 4)  # still counted by the orphaned programs
    second = start_agent(ns_a, pin_dir, dev_a)  # gone0 left the model while no agent ran
    assert programs(ns_a) == one  # replaced in place, not stacked; gone0 cleaned up
    send_frames(ns_b, dev_b, [BGP] * 5)
    assert pinned_rx_bgp(ns_a, dev_a, pin_dir, 12)  # 3 + 4 + 5: nothing lost, nothing twice
    second.send_signal(signal.SIGTERM)
    assert second.wait(10) == 0
    assert programs(ns_a) == {"xdp": [], "tc": []}
    assert sorted(os.listdir(pin_dir)) == sorted(["port_counts", "talkers", "drop_counts", "probe_errors",
                                                  "settings"])  # counters kept for the next start
    third = start_agent(ns_a, pin_dir, dev_a)
    try:
        send_frames(ns_b, dev_b, [BGP] * 2)
        assert pinned_rx_bgp(ns_a, dev_a, pin_dir, 14)
    finally:
        third.terminate()
        third.wait(10)


def pinned_rx_bgp(ns: str, dev: str, pin_dir: str, expected: int) -> bool:
    """Whether the pinned maps reach `expected` rx BGP frames on `dev` (as `show probes` reads them)."""
    with netns(ns):
        maps = ProbeMaps.from_pins(pin_dir)
        ports = {socket.if_nametoindex(dev): dev}
    try:
        return wait_until(lambda: [(c.packets, c.bytes) for c in maps.ports(ports)[0]
                                   if c.direction == "rx" and c.klass == "bgp"] == [(expected, expected * len(BGP))])
    finally:
        maps.close()


def test_kernel_drops_by_reason(probed_pair, probe_object):
    ns_a, dev_a, ns_b, dev_b, pin_dir = probed_pair
    for ns, dev, addr in ((ns_a, dev_a, "10.77.0.1/24"), (ns_b, dev_b, "10.77.0.2/24")):
        subprocess.run(["ip", "-n", ns, "addr", "add", addr, "dev", dev], check=True)
    with netns(ns_a):
        mgr = ProbeManager(ProbesConfig(pin_dir=pin_dir), obj_path=str(probe_object))
    try:
        require(mgr.drops_available, f"kernel drop visibility: {mgr.drops_status}")
        assert mgr.read(10).counters["probes_kernel_drops_available"] == 1
        with netns(ns_a):
            mgr.sync([dev_a])
        with netns(ns_b):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            for _ in range(20):
                sock.sendto(b"x" * 10, ("10.77.0.1", 9))  # discard port, nothing listening
        def no_socket():
            return [(d.port, d.packets) for d in mgr.read(10).drops if d.reason == "no_socket"]

        assert wait_until(lambda: no_socket() == [(dev_a, 20)]), no_socket()  # all 20, not the first seen
    finally:
        with netns(ns_a):
            mgr.close()


def test_pinned_maps_that_no_longer_fit_are_recreated(probed_pair, probe_object):
    ns_a, dev_a, _, _, pin_dir = probed_pair
    with netns(ns_a):
        for size, resets in ((1024, 0), (1024, 0), (512, 1)):  # talkers resized: the pins cannot be reused
            mgr = ProbeManager(ProbesConfig(pin_dir=pin_dir, top_talkers=size), obj_path=str(probe_object))
            try:
                assert mgr.stats["counter_resets"] == resets
                assert mgr.maps.maps["talkers"].info.max_entries == size
            finally:
                mgr.close()


def test_jumbo_mtu_device_gets_generic_xdp(probed_pair, probe_object):
    ns_a, dev_a, ns_b, dev_b, pin_dir = probed_pair
    for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):  # SONiC ports run MTU 9100: too large for native veth XDP
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "9100"], check=True)
    with netns(ns_a):
        mgr = ProbeManager(ProbesConfig(pin_dir=pin_dir), obj_path=str(probe_object))
        try:
            mgr.sync([dev_a])
            assert (mgr.ports[dev_a].ingress, mgr.ports[dev_a].xdp_mode) == ("xdp", na.XDP_FLAGS_SKB_MODE)
            assert mgr.stats["xdp_fallbacks"] == 0
            send_frames(ns_b, dev_b, [BGP] * 6)
            assert wait_until(lambda: rx_bgp(mgr, dev_a) == 6)
        finally:
            mgr.close()
    assert programs(ns_a) == {"xdp": [], "tc": []}
