"""A job's flows and summary, counted from the Snapshots (never from the sources).

Every Snapshot carries the flows of the mirror streams jobs watch (`Snapshot.watched_flows`,
from the tick's one read of the flow table). A job's flows are those of its stream (outer src,
outer dst, GRE protocol: its MIRROR_SESSION's) whose ERSPAN port index names one of its ports,
or, with no port index, those the model matched to its session. The decoder's counts are
cumulative and a stream outlives a job (the next job on a port may reuse it), so a job counts
from a baseline: the flows' counts in the Snapshot current when it was created. A flow that
leaves the decoder's table and comes back restarts from zero; what it had counted is carried.
At most `max_tracked` flows are followed per job (more are counted in `flows_untracked`);
results show the top `topk` by bytes. Mirror loss is the GRE sequence gaps of the job's
streams (the session ids its flows came with) since the baseline.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Mapping, Optional, Tuple

from erspan.streams import Stream

from ..records import FlowRecord, MirrorSessionStats, Snapshot

if TYPE_CHECKING:
    from ..privacy.policy import PrivacyPolicy

DIRECTIONS = {"rx": "ingress", "tx": "egress"}
FlowKey = Tuple[object, ...]


def flow_key(f: FlowRecord) -> FlowKey:
    return (f.outer_src, f.outer_dst, f.gre_proto, f.session_id, f.erspan_type, f.direction, f.vlan, f.src, f.dst,
            f.proto, f.sport, f.dport)


def session_key(s: MirrorSessionStats) -> Tuple[object, ...]:
    return s.outer_src, s.outer_dst, s.gre_proto, s.session_id


@dataclass
class _Count:
    """One flow: its latest record, and its counts from the job's baseline on."""

    record: FlowRecord
    base_packets: int = 0
    base_bytes: int = 0
    carried_packets: int = 0
    carried_bytes: int = 0

    def observe(self, f: FlowRecord) -> None:
        if f.packets < self.record.packets:  # left the decoder's table and came back: from zero again
            self.carried_packets += self.record.packets - self.base_packets
            self.carried_bytes += self.record.bytes - self.base_bytes
            self.base_packets = self.base_bytes = 0
        self.record = f

    @property
    def packets(self) -> int:
        return self.carried_packets + self.record.packets - self.base_packets

    @property
    def bytes(self) -> int:
        return self.carried_bytes + self.record.bytes - self.base_bytes


class JobResults:
    def __init__(self, stream: Stream, port_indexes: Mapping[int, str], session: str, sample_rate: int,
                 topk: int, max_tracked: int):
        self.stream, self.port_indexes, self.session = stream, dict(port_indexes), session
        self.sample_rate, self.topk, self.max_tracked = sample_rate, topk, max_tracked
        self._lock = threading.Lock()
        self._flows: Dict[FlowKey, _Count] = {}
        self._baseline: Dict[FlowKey, FlowRecord] = {}
        self._session_base: Dict[Tuple[object, ...], int] = {}
        self._session_lost: Dict[Tuple[object, ...], int] = {}
        self.flows_untracked = 0
        self.started = time.time()

    def mine(self, f: FlowRecord) -> bool:
        if (f.outer_src, f.outer_dst, f.gre_proto) != self.stream:
            return False
        return f.port_index in self.port_indexes if f.port_index is not None else f.session == self.session

    def baseline(self, snapshot: Snapshot) -> None:
        """What the decoder had counted for the job's flows before the job."""
        with self._lock:
            self._baseline = {flow_key(f): f for f in snapshot.watched_flows if self.mine(f)}
            self._session_base = {session_key(s): s.lost for s in snapshot.sessions
                                  if (s.outer_src, s.outer_dst, s.gre_proto) == self.stream}

    def observe(self, snapshot: Snapshot) -> None:
        with self._lock:
            for f in snapshot.watched_flows:
                if not self.mine(f):
                    continue
                key = flow_key(f)
                count = self._flows.get(key)
                if count is None:
                    if len(self._flows) >= self.max_tracked:
                        self.flows_untracked += 1
                        continue
                    base = self._baseline.get(key)
                    count = self._flows[key] = _Count(f)
                    if base is not None and base.packets <= f.packets:
                        count.base_packets, count.base_bytes = base.packets, base.bytes
                else:
                    count.observe(f)
            ids = {c.record.session_id for c in self._flows.values()}
            for s in snapshot.sessions:
                key = session_key(s)
                if (s.outer_src, s.outer_dst, s.gre_proto) == self.stream and s.session_id in ids:
                    self._session_lost[key] = max(0, s.lost - self._session_base.get(key, 0))

    def flow_records(self, policy: Optional[PrivacyPolicy] = None) -> Tuple[List[FlowRecord], int]:
        """The top `topk` flows by bytes, counted from the baseline, as the job's own records (under
        a privacy policy: those it excludes left out first, the rest anonymised); and how many
        flows the policy left out."""
        with self._lock:
            counts = [c for c in self._flows.values() if c.packets > 0]
            kept = [c for c in counts if not policy.excluded_flow(c.record)] if policy is not None else counts
            excluded = len(counts) - len(kept)
            kept = sorted(kept, key=lambda c: -c.bytes)[:self.topk]
            records = [dataclasses.replace(
                c.record, packets=c.packets, bytes=c.bytes, session=self.session,
                source_ports=(self.port_indexes[c.record.port_index],) if c.record.port_index in self.port_indexes
                else c.record.source_ports, sample_rate=self.sample_rate if self.sample_rate > 1 else None,
                first_seen=max(c.record.first_seen, self.started)) for c in kept]
        if policy is not None:
            records = [policy.flow(f) for f in records]
        return records, excluded

    def summary(self, ended: Optional[float]) -> dict:
        with self._lock:
            counts = [c for c in self._flows.values() if c.packets > 0]
            lost = sum(self._session_lost.values())
            untracked = self.flows_untracked
        packets, octets = sum(c.packets for c in counts), sum(c.bytes for c in counts)
        return {"packets": packets, "bytes": octets, "estimated_packets": packets * self.sample_rate,
                "estimated_bytes": octets * self.sample_rate, "flows": len(counts), "mirror_loss": lost,
                "flows_untracked": untracked,
                "duration_sec": round((ended or time.time()) - self.started, 3)}


def flow_json(f: FlowRecord) -> dict:
    """A job flow as the API returns it."""
    return {"src": f.src, "dst": f.dst, "protocol": f.proto, "src_port": f.sport, "dst_port": f.dport,
            "vlan": f.vlan, "direction": DIRECTIONS.get(f.direction or ""), "packets": f.packets, "bytes": f.bytes,
            "estimated_packets": f.estimated_packets, "estimated_bytes": f.estimated_bytes,
            "tcp_flags": f.tcp_flags if f.proto == 6 else None, "dscp": f.dscp, "first_seen": f.first_seen,
            "last_seen": f.last_seen, "session": f.session, "source_ports": list(f.source_ports),
            "erspan_type": f.erspan_type, "session_id": f.session_id}

