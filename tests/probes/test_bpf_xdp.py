"""The one XDP attach rule (sonic_agent.bpf.xdp) with real programs on a veth in a namespace:
a program of ours is replaced in place, a foreign one (the other component's included) is
refused by name and left alone, native XDP falls back to generic."""
from __future__ import annotations

import errno
import socket
import subprocess

import pytest

from sonic_agent.bpf import BpfError, BpfObject, object_path
from sonic_agent.bpf import netattach as na
from sonic_agent.bpf.objects import prog_name_by_id
from sonic_agent.bpf.xdp import attach_xdp
from sonic_agent.mirror import kernel as mk
from sonic_agent.probes import kernel as pk

from tests.conftest import wait_until

from .conftest import netns, send_frames
from .frames import FRAMES

pytestmark = pytest.mark.root
BGP = dict(FRAMES)["bgp"]


@pytest.fixture
def objects(probe_object):
    """Two instances of the probe object (a predecessor and its successor), the decoder, and
    a foreign program."""
    with BpfObject(str(probe_object), skip=(pk.PROG_DROPS,)) as old, \
            BpfObject(str(probe_object), skip=(pk.PROG_DROPS,)) as new, \
            BpfObject(str(object_path(mk.OBJECT))) as decoder, \
            BpfObject(str(object_path("empty_xdp.bpf.o"))) as foreign:
        yield {"old": old.program(pk.PROG_XDP), "new": new.program(pk.PROG_XDP),
               "decoder": decoder.program(mk.PROG), "foreign": foreign.program("empty_xdp")}, new


def rx_bgp(obj, ifindex: int) -> int:
    """BGP frames the probe object counted on `ifindex` (its port entry made here)."""
    from sonic_agent.probes.reader import ProbeMaps
    maps = ProbeMaps({name: obj.map(name) for name in pk.PINNED_MAPS})
    return next((c.packets for c in maps.ports({ifindex: "p"})[0] if (c.direction, c.klass) == ("rx", "bgp")), 0)


def test_ours_is_replaced_in_place_keeping_its_mode(probed_pair, objects):
    ns_a, dev_a, ns_b, dev_b, _ = probed_pair
    progs, new_obj = objects
    with netns(ns_a):
        ifindex = socket.if_nametoindex(dev_a)
        first = attach_xdp(ifindex, progs["old"].fd, pk.PROG_PREFIX, mode=na.XDP_FLAGS_SKB_MODE)
        old_id = na.xdp_query(ifindex)[0]
        assert (first.mode, first.replaced) == (na.XDP_FLAGS_SKB_MODE, 0)
        ports = new_obj.map(pk.MAP_PORTS)
        for d in (0, 1):
            ports.update(pk.PortKey(ifindex, d), ports.zero_value())
        second = attach_xdp(ifindex, progs["new"].fd, pk.PROG_PREFIX)  # mode 0: the running one is kept
        new_id, mode = na.xdp_query(ifindex)
        assert second.replaced == old_id and new_id not in (0, old_id)
        assert (second.mode, mode) == (na.XDP_FLAGS_SKB_MODE, na.XDP_FLAGS_SKB_MODE)
    send_frames(ns_b, dev_b, [BGP] * 4)
    assert wait_until(lambda: rx_bgp(new_obj, ifindex) == 4)  # the successor counts
    with netns(ns_a):
        assert not first.detach()  # no longer the program there: left alone
        assert na.xdp_query(ifindex)[0] == new_id
        assert second.detach() and na.xdp_query(ifindex) == (0, 0)


@pytest.mark.parametrize("holder, name", [("foreign", "empty_xdp"), ("decoder", mk.PROG)])
def test_anyone_elses_program_is_refused_by_name_and_left_alone(probed_pair, objects, holder, name):
    """The decoder's program is no probe's to replace (each component has its own prefix)."""
    ns_a, dev_a, _, _, _ = probed_pair
    progs, _ = objects
    with netns(ns_a):
        ifindex = socket.if_nametoindex(dev_a)
        na.xdp_attach(ifindex, progs[holder].fd)
        held = na.xdp_query(ifindex)
        try:
            with pytest.raises(BpfError) as caught:
                attach_xdp(ifindex, progs["new"].fd, pk.PROG_PREFIX)
            assert caught.value.errno == errno.EEXIST
            assert f"{dev_a} already has XDP program {held[0]} ({name})" in str(caught.value)
            assert na.xdp_query(ifindex) == held and prog_name_by_id(held[0]) == name
        finally:
            na.xdp_detach(ifindex, progs[holder].fd, held[1])


def test_native_refused_falls_back_to_generic(probed_pair, objects):
    ns_a, dev_a, ns_b, dev_b, _ = probed_pair
    progs, _ = objects
    for ns, dev in ((ns_a, dev_a), (ns_b, dev_b)):  # too large an MTU for native XDP on veth
        subprocess.run(["ip", "-n", ns, "link", "set", dev, "mtu", "9100"], check=True)
    with netns(ns_a):
        ifindex = socket.if_nametoindex(dev_a)
        attached = attach_xdp(ifindex, progs["new"].fd, pk.PROG_PREFIX)
        assert attached.mode == na.XDP_FLAGS_SKB_MODE == na.xdp_query(ifindex)[1]
        assert attached.detach()
        with pytest.raises(BpfError):  # a forced mode is not fallen back from
            attach_xdp(ifindex, progs["new"].fd, pk.PROG_PREFIX, mode=na.XDP_FLAGS_DRV_MODE)
        assert na.xdp_query(ifindex) == (0, 0)
