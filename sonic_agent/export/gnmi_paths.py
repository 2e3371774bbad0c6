"""Pure encoder: a Snapshot -> gNMI leaves (path -> value), path matching and typed values.

Paths served (keys in brackets; every leaf is read-only state):

    /system/state/hostname
    /interfaces/interface[name=<port>]/state/{name,description,mtu,ifindex,admin-status,oper-status}
    /interfaces/interface[name=<port>]/state/counters/{in-octets,out-octets,in-unicast-pkts,
        out-unicast-pkts,in-multicast-pkts,out-multicast-pkts,in-broadcast-pkts,
        out-broadcast-pkts,in-errors,out-errors,in-discards,out-discards}
    /telegen/device/state/{hwsku,platform,mac,sonic-version}
    /telegen/ports/port[name=<port>]/state/{alias,kind,namespace,lag,speed-mbps,netdev-oper-status}
    /telegen/ports/port[name=<port>]/rates/{rx-bps,tx-bps,rx-pps,tx-pps}      (bytes/s, packets/s)
    /telegen/ports/port[name=<port>]/counters/<COUNTERS_DB name>             (any other counter)
    /telegen/ports/port[name=<port>]/state/lag-member-status                 (enabled | disabled)
    /telegen/ports/port[name=<port>]/vlans/vlan[name=<VlanN>]/state/tagging-mode
    /telegen/ports/port[name=<port>]/queues/queue[index=<n>]/state/{type,shared-watermark-bytes}
        (type: unicast | multicast | all; any other queue counter under its name)
    /interfaces/interface[name=<port>]/ethernet/state/aggregate-id            (its PortChannel)
    /interfaces/interface[name=<PortChannel>]/aggregation/state/member       (leaf-list)
    /qos/interfaces/interface[interface-id=<port>]/output/queues/queue[name=<n>]/state/
        {transmit-pkts,transmit-octets,dropped-pkts,dropped-octets}
    /telegen/probes/probe[port=<port>][direction=rx|tx][class=<class>]/state/{packets,bytes}
    /telegen/probes/packet-sizes/bucket[port=<port>][direction=rx|tx][low=<bytes>]/state/{high,packets}
        (log2 buckets of frame length; the last, open-ended bucket has no high)
    /telegen/probes/talkers/talker[port=<port>][source=<address>][protocol=<n>][class=<class>]/state/
        {packets,bytes}          (sampled estimates; the top 10 sources towards the CPU per port)
    /telegen/probes/kernel-drops/drop[port=<port>][reason=<skb_drop_reason>]/state/{packets,bytes}
    /telegen/flows/flow[src-address][dst-address][protocol][src-port][dst-port][session]/state/
        {packets,bytes,estimated-packets,estimated-bytes,direction,tcp-flags,dscp,vlan,sample-rate,
         first-seen,last-seen}          (estimated: raw x sample-rate, raw when not sampled)
    /telegen/mirror-sessions/stream[outer-src][outer-dst][session-id]/state/
        {name,status,gre-proto,packets,lost,truncated}
    /telegen/mirror-decoder/malformed[reason=<reason>]/state/count
    /telegen/agent/state/<counter>                                           (Snapshot.agent)

OpenConfig enums are upper case (UP, DOWN). A missing key value (a flow without ports) is
the empty string. Request paths may use `*` for any element or key value, `...` for any
depth, and leave keys out to mean all; a path names its whole subtree. Under JSON_IETF,
64-bit counters are JSON strings (RFC 7951); under JSON they are numbers.
"""
from __future__ import annotations

import json
from typing import Dict, Iterable, Tuple

from pygnmi.spec.v080 import gnmi_pb2

from ..records import Snapshot
from .schema import lag_members, vlan_members

Elem = Tuple[str, Tuple[Tuple[str, str], ...]]  # (name, sorted (key, value) pairs)
PathKey = Tuple[Elem, ...]
Leaves = Dict[PathKey, object]

OC_COUNTERS = {
    "in_octets": "in-octets", "out_octets": "out-octets", "in_ucast_pkts": "in-unicast-pkts",
    "out_ucast_pkts": "out-unicast-pkts", "in_mcast_pkts": "in-multicast-pkts", "out_mcast_pkts": "out-multicast-pkts",
    "in_bcast_pkts": "in-broadcast-pkts", "out_bcast_pkts": "out-broadcast-pkts", "in_errors": "in-errors",
    "out_errors": "out-errors", "in_discards": "in-discards", "out_discards": "out-discards",
}
RATES = {"rx_bps": "rx-bps", "tx_bps": "tx-bps", "rx_pps": "rx-pps", "tx_pps": "tx-pps"}
# Leaves whose YANG type fits 32 bits: numbers even under JSON_IETF (other integers are uint64).
SMALL_INTS = {"mtu", "ifindex", "protocol", "dscp", "vlan", "tcp-flags", "gre-proto", "speed-mbps", "sample-rate",
              "high"}
# Under TARGET_DEFINED these are sampled; every other leaf is sent on change.
SAMPLED_PARENTS = {"counters", "rates", "queue", "probe", "bucket", "talker", "drop", "flow", "stream", "malformed",
                   "agent"}
OC_QUEUE = {"packets": "transmit-pkts", "bytes": "transmit-octets", "dropped_packets": "dropped-pkts",
            "dropped_bytes": "dropped-octets"}


def _e(elem: str, /, **keys) -> Elem:
    return elem, tuple(sorted((k.replace("_", "-"), "" if v is None else str(v)) for k, v in keys.items()))


def snapshot_leaves(snap: Snapshot) -> Leaves:
    out: Leaves = {}

    def put(path: Iterable[Elem], state: Dict[str, object]) -> None:
        base = tuple(path)
        for leaf, value in state.items():
            if value not in (None, ""):
                out[base + ((leaf, ()),)] = value

    d = snap.device
    put([_e("system"), _e("state")], {"hostname": d.hostname})
    put([_e("telegen"), _e("device"), _e("state")],
        {"hwsku": d.hwsku, "platform": d.platform, "mac": d.mac, "sonic-version": d.sonic_version})
    for p in snap.ports:
        iface = (_e("interfaces"), _e("interface", name=p.name), _e("state"))
        put(iface, {"name": p.name, "description": p.description, "mtu": p.mtu, "ifindex": p.ifindex,
                    "admin-status": p.admin_status.upper(), "oper-status": p.oper_status.upper()})
        port = (_e("telegen"), _e("ports"), _e("port", name=p.name))
        put(port + (_e("state"),),
            {"alias": p.alias, "kind": p.kind, "namespace": p.namespace, "lag": p.lag, "speed-mbps": p.speed_mbps,
             "netdev-oper-status": p.netdev_oper_status.upper(), "lag-member-status": p.lag_member_status})
        put(iface[:2] + (_e("ethernet"), _e("state")), {"aggregate-id": p.lag})
    for lag, members in lag_members(snap):
        put((_e("interfaces"), _e("interface", name=lag.name), _e("aggregation"), _e("state")),
            {"member": [m.name for m in members]})
    for vlan, members in vlan_members(snap):
        for m, mode in members:
            put((_e("telegen"), _e("ports"), _e("port", name=m.name), _e("vlans"), _e("vlan", name=vlan.name),
                 _e("state")), {"tagging-mode": mode})
    for c in snap.port_counters:
        if c.name in OC_COUNTERS:
            put((_e("interfaces"), _e("interface", name=c.port), _e("state"), _e("counters")),
                {OC_COUNTERS[c.name]: int(c.value)})
        else:
            group, leaf = ("rates", RATES[c.name]) if c.name in RATES else ("counters", c.name)
            put((_e("telegen"), _e("ports"), _e("port", name=c.port), _e(group)),
                {leaf: c.value if group == "rates" else int(c.value)})
    for q in snap.queue_counters:
        queue = (_e("telegen"), _e("ports"), _e("port", name=q.port), _e("queues"), _e("queue", index=q.queue),
                 _e("state"))
        put(queue, {"type": q.kind})
        if q.name in OC_QUEUE:
            put((_e("qos"), _e("interfaces"), _e("interface", interface_id=q.port), _e("output"), _e("queues"),
                 _e("queue", name=q.queue), _e("state")), {OC_QUEUE[q.name]: int(q.value)})
        else:
            put(queue, {q.name.replace("_", "-"): int(q.value)})
    for c in snap.probe_counts:
        put((_e("telegen"), _e("probes"), _e("probe", port=c.port, direction=c.direction, **{"class": c.klass}),
             _e("state")), {"packets": c.packets, "bytes": c.bytes})
    for b in snap.probe_sizes:
        put((_e("telegen"), _e("probes"), _e("packet-sizes"), _e("bucket", port=b.port, direction=b.direction,
                                                                  low=b.low), _e("state")),
            {"high": b.high, "packets": b.packets})
    for t in snap.probe_talkers:
        put((_e("telegen"), _e("probes"), _e("talkers"), _e("talker", port=t.port, source=t.src, protocol=t.proto,
                                                            **{"class": t.klass}), _e("state")),
            {"packets": t.packets, "bytes": t.bytes})
    for d in snap.kernel_drops:
        put((_e("telegen"), _e("probes"), _e("kernel-drops"), _e("drop", port=d.port, reason=d.reason), _e("state")),
            {"packets": d.packets, "bytes": d.bytes})
    for f in snap.flows:
        key = _e("flow", src_address=f.src, dst_address=f.dst, protocol=f.proto, src_port=f.sport,
                 dst_port=f.dport, session=f.session)
        put((_e("telegen"), _e("flows"), key, _e("state")),
            {"packets": f.packets, "bytes": f.bytes, "estimated-packets": f.estimated_packets,
             "estimated-bytes": f.estimated_bytes, "direction": f.direction, "tcp-flags": f.tcp_flags,
             "dscp": f.dscp, "vlan": f.vlan, "sample-rate": f.sample_rate, "first-seen": f.first_seen,
             "last-seen": f.last_seen})
    for s in snap.sessions:
        put((_e("telegen"), _e("mirror-sessions"), _e("stream", outer_src=s.outer_src, outer_dst=s.outer_dst,
                                                       session_id=s.session_id), _e("state")),
            {"name": s.session, "status": s.status, "gre-proto": s.gre_proto, "packets": s.packets,
             "lost": s.lost, "truncated": s.truncated})
    for reason, count in snap.malformed.items():
        put((_e("telegen"), _e("mirror-decoder"), _e("malformed", reason=reason), _e("state")), {"count": count})
    put((_e("telegen"), _e("agent"), _e("state")), {k.replace("_", "-"): v for k, v in snap.agent.items()})
    return out


def is_sampled(path: PathKey) -> bool:
    return any(name in SAMPLED_PARENTS for name, _ in path[:-1])


def from_proto(prefix: gnmi_pb2.Path, path: gnmi_pb2.Path) -> Tuple[Tuple[str, Dict[str, str]], ...]:
    """A request pattern: prefix elems then path elems, each (name, keys)."""
    return tuple((e.name, dict(e.key)) for e in list(prefix.elem) + list(path.elem))


def matches(pattern, path: PathKey) -> bool:
    """Does the leaf `path` lie under `pattern` (with `*`, `...` and missing keys as wildcards)?"""
    if not pattern:
        return True
    name, keys = pattern[0]
    if name == "...":
        return any(matches(pattern[1:], path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    elem_name, elem_keys = path[0]
    if name not in ("*", elem_name):
        return False
    have = dict(elem_keys)
    if any(v != "*" and have.get(k) != v for k, v in keys.items()):
        return False
    return matches(pattern[1:], path[1:])


def to_proto(path: PathKey) -> gnmi_pb2.Path:
    return gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name=name, key=dict(keys)) for name, keys in path])


def typed_value(path: PathKey, value: object, encoding: int) -> gnmi_pb2.TypedValue:
    if encoding == gnmi_pb2.JSON_IETF:
        if isinstance(value, int) and path[-1][0] not in SMALL_INTS:
            value = str(value)
        return gnmi_pb2.TypedValue(json_ietf_val=json.dumps(value).encode())
    return gnmi_pb2.TypedValue(json_val=json.dumps(value).encode())


def path_text(pattern) -> str:
    return "/" + "/".join(name + "".join(f"[{k}={v}]" for k, v in sorted(keys.items())) for name, keys in pattern)
