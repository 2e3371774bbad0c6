"""The libbpf binding on the real probe object: batch and iterated map reads agree, per-CPU
values are summed, layouts are checked against the kernel's, enum names come from BTF."""
from __future__ import annotations

import ctypes

import pytest

from sonic_agent.bpf import NUM_CPUS, BpfError, BpfObject, kernel_enum
from sonic_agent.probes import kernel as k
from tests.conftest import require_root

pytestmark = pytest.mark.root


@pytest.fixture
def probe(probe_object):
    require_root()
    with BpfObject(str(probe_object), skip=(k.PROG_DROPS,)) as obj:
        yield obj


def test_batch_and_iterated_reads_agree_and_sum_cpus(probe):
    ports = probe.map(k.MAP_PORTS)
    counts_type = k.port_counts_type(len([n for n in ports.enum("probe_class").values() if n.startswith("CLASS_")]))
    slot = ctypes.sizeof(counts_type)  # a multiple of 8: one per-CPU slot
    for ifindex in range(1, 41):
        value = bytearray(ports.zero_value())
        for cpu in range(NUM_CPUS):  # class 3 of each CPU holds ifindex * (cpu + 1) packets
            ctypes.c_uint64.from_buffer(value, cpu * slot + 3 * 16).value = ifindex * (cpu + 1)
        ports.update(k.PortKey(ifindex, 1), bytes(value))
    batched = {key.ifindex: v.cls[3].packets for key, v in ports.read(k.PortKey, counts_type)}
    ports._batch = False
    iterated = {key.ifindex: v.cls[3].packets for key, v in ports.read(k.PortKey, counts_type)}
    assert batched == iterated == {i: i * NUM_CPUS * (NUM_CPUS + 1) // 2 for i in range(1, 41)}


def test_layout_mismatch_is_refused(probe):
    class Short(ctypes.Structure):
        _fields_ = [("packets", ctypes.c_uint64)]

    with pytest.raises(BpfError, match="the kernel's"):
        probe.map(k.MAP_DROPS).read(k.DropKey, Short)


def test_enum_names_from_btf(probe):
    assert probe.map(k.MAP_PORTS).enum("probe_dir") == {0: "PROBE_RX", 1: "PROBE_TX"}
    reasons = kernel_enum("skb_drop_reason")
    assert reasons[3] == "SKB_DROP_REASON_NO_SOCKET"


def test_test_run_passes_frames(probe):
    retval, ns = probe.program(k.PROG_XDP).test_run(bytes(60), repeat=1000)
    assert retval == 2 and ns > 0  # XDP_PASS


def test_lookup_update_delete(probe):
    drops = probe.map(k.MAP_DROPS)
    key = k.DropKey(7, 3)
    assert drops.lookup(key) is None
    assert drops.update(key, bytes(k.ClassCount(5, 500)) * NUM_CPUS, flags=1)  # BPF_NOEXIST
    assert not drops.update(key, drops.zero_value(), flags=1)  # already there: kept
    assert k.ClassCount.from_buffer_copy(drops.lookup(key)[:16]).packets == 5
    assert drops.delete(key) and not drops.delete(key)
