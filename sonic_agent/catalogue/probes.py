"""The port probes' families: per port, direction and class; frame sizes; top talkers; kernel drops."""
from __future__ import annotations

from operator import attrgetter
from typing import List

from .model import COUNTER, HISTOGRAM, Entity, Key, Metric, Source
from .switch import DIRECTIONS, port_key

# IANA protocol numbers -> OTel `network.transport` values (others: the number as text).
TRANSPORTS = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 58: "icmpv6", 132: "sctp"}


def transport_name(proto) -> str:
    return TRANSPORTS.get(proto, str(proto))


def direction_key() -> Key:
    return Key("direction", "direction", prom="direction", otel="network.io.direction",
               otel_value=lambda d: DIRECTIONS.get(d, d))


def class_key() -> Key:
    return Key("class", "klass", prom="class", otel="telegen.probe.class")


PROBE = Entity("probe", lambda s: s.probe_counts, (port_key(), direction_key(), class_key()),
               help="port probes, per port, direction and class")
PROBE_SIZES = Entity("probe_sizes", lambda s: s.probe_sizes, (port_key(), direction_key()),
                     help="port probes, per port and direction")
TALKER = Entity("talker", lambda s: s.probe_talkers,
                (port_key(), Key("source", "src", prom="source", otel="source.address"),
                 Key("protocol", "proto", prom="protocol", otel="network.transport",
                     prom_text=transport_name, otel_value=transport_name), class_key()),
                otel_attrs=(("network.io.direction", "receive"),),
                help="a top source towards the CPU on a port: sampled estimates, the top 10 per port")
KERNEL_DROP = Entity("kernel_drop", lambda s: s.kernel_drops,
                     (port_key(), Key("reason", "reason", prom="reason", otel="error.type")),
                     help="frames the kernel dropped on a port (skb:kfree_skb), by skb_drop_reason")

PROBES = "/telegen/probes/"


def metrics() -> List[Metric]:
    probe = PROBES + "probe[port={port}][direction={direction}][class={class}]/state/"
    talker = PROBES + "talkers/talker[port={port}][source={source}][protocol={protocol}][class={class}]/state/"
    drop = PROBES + "kernel-drops/drop[port={port}][reason={reason}]/state/"
    sampled = "a sampled estimate (sampled frames x the sampling rate)"
    return [
        Metric("probe.packets", PROBE, COUNTER, "{packet}", "Packets the port probes counted, by class.",
               Source("kernel", "port_counts", "cls[class].packets"), attrgetter("packets"),
               prom="telegen_probe_packets", otel="telegen.probe.packets", gnmi=probe + "packets"),
        Metric("probe.bytes", PROBE, COUNTER, "By", "Bytes the port probes counted, by class.",
               Source("kernel", "port_counts", "cls[class].bytes"), attrgetter("bytes"),
               prom="telegen_probe_bytes", otel="telegen.probe.io", gnmi=probe + "bytes"),
        Metric("probe.packet_size", PROBE_SIZES, HISTOGRAM, "By", "Frame lengths the port probes counted (log2 "
               "buckets: le = 1, 3, 7, ... 32767, +Inf); the sum is the bytes they counted there.",
               Source("kernel", "port_counts", "sizes"), lambda h: h,
               prom="telegen_probe_packet_size_bytes", otel="telegen.probe.packet.size",
               gnmi=PROBES + "packet-sizes/bucket[port={port}][direction={direction}][low={low}]/state"),
        Metric("probe.talker.packets", TALKER, COUNTER, "{packet}", f"Packets a top source sent towards the CPU on "
               f"a port: {sampled}.", Source("kernel", "talkers", "packets"), attrgetter("packets"),
               prom="telegen_probe_talker_packets", otel="telegen.probe.talker.packets", gnmi=talker + "packets"),
        Metric("probe.talker.bytes", TALKER, COUNTER, "By", f"Bytes a top source sent towards the CPU on a port: "
               f"{sampled}.", Source("kernel", "talkers", "bytes"), attrgetter("bytes"),
               prom="telegen_probe_talker_bytes", otel="telegen.probe.talker.io", gnmi=talker + "bytes"),
        Metric("kernel.drops", KERNEL_DROP, COUNTER, "{packet}", "Frames the kernel dropped on a port "
               "(skb:kfree_skb), by drop reason.", Source("kernel", "drop_counts", "packets"),
               attrgetter("packets"), prom="telegen_kernel_drops", otel="telegen.kernel.dropped",
               gnmi=drop + "packets"),
        Metric("kernel.drop_bytes", KERNEL_DROP, COUNTER, "By", "Bytes of the frames the kernel dropped on a port, "
               "by drop reason.", Source("kernel", "drop_counts", "bytes"), attrgetter("bytes"),
               prom="telegen_kernel_drop_bytes", otel="telegen.kernel.dropped.io", gnmi=drop + "bytes"),
    ]
