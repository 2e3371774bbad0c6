"""SONiC's own COUNTERS_DB port and queue counters, read at each tick under their catalogue names.

One pipelined round trip per namespace: HMGET of the catalogue's fields of `COUNTERS:<oid>` and
`RATES:<oid>` for every port, and of `COUNTERS:<oid>` for every queue (oids contain ':', so
keys are built, never split). Queues are named the way sonic-utilities' queuestat names them:
port from COUNTERS_QUEUE_PORT_MAP (queue oid -> port oid), index from COUNTERS_QUEUE_INDEX_MAP,
type from COUNTERS_QUEUE_TYPE_MAP, never by parsing the `Ethernet0:3` name (VOQ and system-port
platforms name them differently). A field a platform does not have, or that does not parse
("N/A", ""), is absent from that record only. Only the ports asked for (those CONFIG_DB has)
are read: COUNTERS_DB keeps a deleted port's maps and counters, and a deleted port must leave
every export.
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import redis

from ..catalogue import Metric
from ..records import PortCounters, QueueCounters
from .entities import to_int
from .fields import count
from .encoding import pipeline_replies


class CounterMaps:
    """The COUNTERS_DB oid maps of one namespace (followed by the model), and the objects they
    name: queues and priority groups by port and index, buffer pools and traps by name."""

    def __init__(self, ports: Mapping[str, str], queue_names: Mapping[str, str], queue_ports: Mapping[str, str],
                 queue_indexes: Mapping[str, str], queue_types: Mapping[str, str],
                 pg_names: Mapping[str, str] = {}, pg_ports: Mapping[str, str] = {},
                 pg_indexes: Mapping[str, str] = {}, buffer_pools: Mapping[str, str] = {},
                 traps: Mapping[str, str] = {}):
        self.ports = ports  # port name -> oid (COUNTERS_PORT_NAME_MAP)
        port_names = {oid: name for name, oid in ports.items()}
        self.queues: List[Tuple[str, int, str, str]] = []  # (port, index, type, oid)
        for port, index, oid in _placed(queue_names, queue_ports, queue_indexes, port_names):
            kind = queue_types.get(oid, "SAI_QUEUE_TYPE_ALL").rpartition("_")[2].lower()
            self.queues.append((port, index, kind, oid))
        self.objects: Dict[str, List[Tuple[tuple, str]]] = {  # Table.objects -> [(row key, oid)]
            "queues": [((port, str(index), kind), oid) for port, index, kind, oid in self.queues],
            "pgs": [((port, str(index)), oid) for port, index, oid in _placed(pg_names, pg_ports, pg_indexes,
                                                                              port_names)],
            "buffer_pools": [((name,), oid) for name, oid in sorted(buffer_pools.items())],
            "traps": [((name,), oid) for name, oid in sorted(traps.items())],
        }


def _placed(names: Mapping[str, str], ports: Mapping[str, str], indexes: Mapping[str, str],
            port_names: Mapping[str, str]) -> List[Tuple[str, int, str]]:
    """(port, index, oid) of each object a NAME_MAP lists that its PORT_MAP and INDEX_MAP place."""
    out = []
    for oid in dict.fromkeys(names.values()):
        port, index = port_names.get(ports.get(oid, "")), to_int(indexes.get(oid))
        if port is not None and index is not None:
            out.append((port, index, oid))
    return out


def _values(metrics: Sequence[Metric], replies: Sequence[Optional[str]]) -> Dict[str, float]:
    out = {}
    for m, text in zip(metrics, replies or ()):
        value = count(text)
        if value is not None:
            out[m.name] = value
    return out


def read_counters(client: redis.Redis, maps: CounterMaps, separator: str,
                  port_metrics: Sequence[Metric], queue_metrics: Sequence[Metric],
                  namespace: str = "") -> Tuple[List[PortCounters], List[QueueCounters]]:
    """Every known port's and queue's counters, in one pipelined round trip."""
    by_table: Dict[str, List[Metric]] = {}
    for m in port_metrics:
        by_table.setdefault(m.source.table, []).append(m)
    tables = list(by_table.items())
    ports = list(maps.ports.items())
    queues = maps.queues if queue_metrics else []  # (port, index, type, oid)
    pipe = client.pipeline(transaction=False)
    for _, oid in ports:
        for table, metrics in tables:
            pipe.hmget(f"{table}{separator}{oid}", [m.source.field for m in metrics])
    queue_fields = [m.source.field for m in queue_metrics]
    for *_, oid in queues:
        pipe.hmget(f"COUNTERS{separator}{oid}", queue_fields)
    replies = iter(pipeline_replies(pipe)) if ports or queues else iter(())
    port_out = []
    for port, _ in ports:
        values: Dict[str, float] = {}
        for _, metrics in tables:
            values.update(_values(metrics, next(replies)))
        port_out.append(PortCounters(port, values, namespace))
    queue_out = [QueueCounters(port, index, kind, _values(queue_metrics, next(replies)), namespace)
                 for port, index, kind, _ in queues]
    return port_out, queue_out
