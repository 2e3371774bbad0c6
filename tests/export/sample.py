"""Snapshots the export tests and bench/export_cost.py build: realistic shapes, chosen sizes."""
from __future__ import annotations

import time
from typing import Optional

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.catalogue.switch import PORT_COUNTERS
from sonic_agent.records import (DeviceInfo, FlowRecord, LagMember, LagState, MirrorSessionStats, PortCounters,
                                 PortState, ProbeCount, ProbeDrop, ProbeTalker, QueueCounters, SizeHistogram, Snapshot,
                                 VlanMember, VlanState)

# The probes' 21 classes (bpf/port_probe.h).
CLASSES = ("other_l2", "lldp", "lacp", "stp", "arp", "nd", "icmp", "icmpv6", "bgp", "bfd", "dhcp", "dhcpv6",
           "ssh", "snmp", "gnmi", "sflow", "vxlan", "tcp4", "udp4", "other_ip4", "other_ip6")
SIZE_BUCKETS = 16  # the probes' log2 frame-size buckets (bpf/port_probe.h)
SIZE_BOUNDS = tuple((1 << (b + 1)) - 1 for b in range(SIZE_BUCKETS - 1))  # 1, 3, 7, ... 32767
# COUNTERS_DB port counters and rates: the interface counters every platform has, and the rates
PORT_COUNTER_NAMES = [m.name for m in CATALOGUE.of_entity(PORT_COUNTERS) if m.source.field.startswith("SAI_PORT_STAT_IF_")
                      and "FEC" not in m.source.field or m.source.table == "RATES"]
QUEUE_COUNTER_NAMES = ("queue.packets", "queue.bytes", "queue.dropped_packets", "queue.dropped_bytes",
                       "queue.shared_watermark_bytes")


def sample_snapshot(ports: int = 4, flows: int = 3, classes=CLASSES, counter_base: int = 1000,
                    drop_port: Optional[str] = None, oper_status: str = "up", queues: int = 2) -> Snapshot:
    """Ports Ethernet0, 4, ...; with 3 ports or more, PortChannel0001 of Ethernet0 (member enabled)
    and Ethernet4 (disabled), and Vlan1000 of Ethernet8 (untagged) and PortChannel0001 (tagged).
    Per port `queues` queues, the first half unicast, the rest multicast; per port and direction
    the probes' 16 size buckets (b frames in bucket b), per port two talkers and a kernel drop."""
    names = [f"Ethernet{4 * i}" for i in range(ports) if f"Ethernet{4 * i}" != drop_port]
    lag = {"Ethernet0": "enabled", "Ethernet4": "disabled"} if ports >= 3 else {}
    port_states, port_counters, queue_counters = [], [], []
    probe_counts, probe_sizes, talkers, drops = [], [], [], []
    for i, name in enumerate(names):
        port_states.append(PortState(name=name, alias=f"fortyGigE0/{i * 4}", index=i, speed_mbps=40000,
                                     mtu=9100, admin_status="up", oper_status=oper_status, netdev_oper_status="up",
                                     description=f"to server {i}", lag="PortChannel0001" if name in lag else ""))
        port_counters.append(PortCounters(name, {counter: counter_base + i * 100 + j
                                                 for j, counter in enumerate(PORT_COUNTER_NAMES)}))
        for q in range(queues):
            kind = "unicast" if q < max(1, queues // 2) else "multicast"
            queue_counters.append(QueueCounters(name, q, kind, {counter: counter_base + 10 * q + k
                                                                for k, counter in enumerate(QUEUE_COUNTER_NAMES)}))
        for direction in ("rx", "tx"):
            counts = [ProbeCount(name, direction, klass, counter_base + k, 64 * (counter_base + k))
                      for k, klass in enumerate(classes)]
            probe_counts += counts
            probe_sizes.append(SizeHistogram(name, direction, SIZE_BOUNDS, tuple(range(SIZE_BUCKETS)),
                                             sum(c.bytes for c in counts)))
        talkers += [ProbeTalker(name, f"10.0.{i}.1", 6, "bgp", 1600, 102400),
                    ProbeTalker(name, "52:54:00:00:00:01", 0, "lldp", 32, 8192)]
        drops.append(ProbeDrop(name, "no_socket", 7 + i, 7 * 80))
    lags, vlans = [], []
    if lag:
        port_states += [PortState(name="PortChannel0001", kind="portchannel", mtu=9100, admin_status="up",
                                  oper_status=oper_status),
                        PortState(name="Vlan1000", kind="vlan", mtu=9100, admin_status="up")]
        lags = [LagState("PortChannel0001", members=tuple(LagMember(p, s) for p, s in lag.items() if p in names))]
        vlans = [VlanState("Vlan1000", members=tuple(
            m for m in (VlanMember("Ethernet8", "untagged"), VlanMember("PortChannel0001", "tagged"))
            if m.port in names or m.port.startswith("PortChannel")))]
    return Snapshot(
        timestamp=time.time(), device=DeviceInfo(hostname="sw1", hwsku="Force10-S6000", platform="x86_64-kvm_x86_64-r0",
                                                 mac="52:54:00:12:34:56", sonic_version="SONiC.202405"),
        ports=port_states, lags=lags, vlans=vlans, port_counters=port_counters, queue_counters=queue_counters,
        probe_counts=probe_counts, probe_sizes=probe_sizes, probe_talkers=talkers, kernel_drops=drops,
        flows=[flow(i) for i in range(flows)],
        sessions=[MirrorSessionStats("10.0.0.1", "10.0.0.2", 0x88BE, 1, 5000, 2, 1, "everflow0", "active")],
        malformed={"short_gre": 3}, agent={"snapshot_ticks_total": 0, "mirror_flows": flows})


def flow(i: int) -> FlowRecord:
    return FlowRecord(erspan_type=2, session_id=1, direction="rx", vlan=None,
                      src=f"10.1.{i // 250 % 250}.{i % 250 + 1}", dst="10.2.0.1", proto=6 if i % 2 else 17,
                      sport=1024 + i % 60000, dport=443, packets=100 + i, bytes=64000 + i, tcp_flags=0x18,
                      dscp=0, first_seen=1_700_000_000.0, last_seen=1_700_000_010.0, session="everflow0",
                      source_ports=("Ethernet0",), sample_rate=100, outer_src="10.0.0.1", outer_dst="10.0.0.2")
