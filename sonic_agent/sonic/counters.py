"""SONiC's own COUNTERS_DB port and queue counters, read at call time, under neutral names.

One pipelined round trip per namespace: HMGET of the wanted fields of `COUNTERS:<oid>` and
`RATES:<oid>` for every port in COUNTERS_PORT_NAME_MAP (oids contain ':', so keys are built,
never split). A field a platform does not support is absent and simply not reported. Only the
ports asked for (those CONFIG_DB has) are read: COUNTERS_DB keeps a deleted port's maps and
counters, and a deleted port must leave every export.
"""
from __future__ import annotations

from typing import Container, Dict, List, Mapping, Optional, Tuple

import redis

from ..records import PortCounter, QueueCounter
from .entities import to_int

# neutral name -> SAI stat (counters) or RATES field (gauges), see records.PortCounter
PORT_STATS: Dict[str, str] = {
    "in_octets": "SAI_PORT_STAT_IF_IN_OCTETS",
    "out_octets": "SAI_PORT_STAT_IF_OUT_OCTETS",
    "in_ucast_pkts": "SAI_PORT_STAT_IF_IN_UCAST_PKTS",
    "out_ucast_pkts": "SAI_PORT_STAT_IF_OUT_UCAST_PKTS",
    "in_mcast_pkts": "SAI_PORT_STAT_IF_IN_MULTICAST_PKTS",
    "out_mcast_pkts": "SAI_PORT_STAT_IF_OUT_MULTICAST_PKTS",
    "in_bcast_pkts": "SAI_PORT_STAT_IF_IN_BROADCAST_PKTS",
    "out_bcast_pkts": "SAI_PORT_STAT_IF_OUT_BROADCAST_PKTS",
    "in_errors": "SAI_PORT_STAT_IF_IN_ERRORS",
    "out_errors": "SAI_PORT_STAT_IF_OUT_ERRORS",
    "in_discards": "SAI_PORT_STAT_IF_IN_DISCARDS",
    "out_discards": "SAI_PORT_STAT_IF_OUT_DISCARDS",
}
PORT_RATES: Dict[str, str] = {"rx_bps": "RX_BPS", "tx_bps": "TX_BPS", "rx_pps": "RX_PPS", "tx_pps": "TX_PPS"}
QUEUE_STATS: Dict[str, str] = {
    "packets": "SAI_QUEUE_STAT_PACKETS",
    "bytes": "SAI_QUEUE_STAT_BYTES",
    "dropped_packets": "SAI_QUEUE_STAT_DROPPED_PACKETS",
    "dropped_bytes": "SAI_QUEUE_STAT_DROPPED_BYTES",
    "shared_watermark_bytes": "SAI_QUEUE_STAT_SHARED_WATERMARK_BYTES",
}


def _number(text: Optional[str]) -> Optional[float]:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _hmget_all(client: redis.Redis, keys_fields: List[Tuple[str, List[str]]]) -> List[List[Optional[str]]]:
    pipe = client.pipeline(transaction=False)
    for key, fields in keys_fields:
        pipe.hmget(key, fields)
    return pipe.execute()


def read_port_counters(client: redis.Redis, port_oids: Mapping[str, str], known: Container[str], separator: str,
                       namespace: str = "") -> List[PortCounter]:
    stat_fields, rate_fields = list(PORT_STATS.values()), list(PORT_RATES.values())
    ports = [(port, oid) for port, oid in port_oids.items() if port in known]
    requests = []
    for _, oid in ports:
        requests += [(f"COUNTERS{separator}{oid}", stat_fields), (f"RATES{separator}{oid}", rate_fields)]
    replies = _hmget_all(client, requests)
    out: List[PortCounter] = []
    for i, (port, _) in enumerate(ports):
        for names, values in ((PORT_STATS, replies[2 * i]), (PORT_RATES, replies[2 * i + 1])):
            for name, text in zip(names, values):
                value = _number(text)
                if value is not None:
                    out.append(PortCounter(port, name, value, namespace))
    return out


def read_queue_counters(client: redis.Redis, queue_oids: Mapping[str, str], queue_types: Mapping[str, str],
                        known: Container[str], separator: str, namespace: str = "") -> List[QueueCounter]:
    """Queues are `<port>:<index>` in COUNTERS_QUEUE_NAME_MAP; kind from COUNTERS_QUEUE_TYPE_MAP."""
    fields = list(QUEUE_STATS.values())
    queues = []
    for queue_name, oid in queue_oids.items():
        port, _, index = queue_name.rpartition(":")
        queue = to_int(index)
        if port in known and queue is not None:
            queues.append((port, queue, oid))
    replies = _hmget_all(client, [(f"COUNTERS{separator}{oid}", fields) for _, _, oid in queues])
    out: List[QueueCounter] = []
    for (port, queue, oid), values in zip(queues, replies):
        kind = queue_types.get(oid, "SAI_QUEUE_TYPE_ALL").rpartition("_")[2].lower()
        for name, text in zip(QUEUE_STATS, values):
            value = _number(text)
            if value is not None:
                out.append(QueueCounter(port, queue, kind, name, value, namespace))
    return out
