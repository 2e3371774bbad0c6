"""SLIs read from a Snapshot: what each kind counts as an event and as a bad one, per consumer.

An SLI gives, for one Snapshot, its members (a port, a neighbor, a class, a mirror session, a
label set of a catalogue metric) each with (total, bad). State SLIs (availability, bgp, bool)
give 0/1 per member, which the engine weighs by the seconds since the last Snapshot; counter
SLIs (error_ratio, cpu_path, mirror_loss, events) give the increase since the last Snapshot
(a counter that went down restarted: its new value is the increase, as in Prometheus; a gauge
named as a counter, such as the CPU path's lost packets, counts its rises past its highest).
Nothing here reads a source: every value comes from the Snapshot and the catalogue.
"""
from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ..catalogue import COUNTER, Metric
from ..catalogue.routing import bgp_neighbors
from ..records import PortState, Snapshot
from .spec import SliConfig, counters, glob_match

Members = Dict[str, Tuple[float, float]]  # consumer -> (total, bad)
MAX_MEMBERS = 4096  # consumers one SLI tracks; past it they are summed under "_other"
OTHER = "_other"


def select_ports(snap: Snapshot, selectors: Sequence[str]) -> List[PortState]:
    """The Snapshot's ports a selection names: names, aliases and globs of either; `uplinks`
    (ports, PortChannels or VLANs a BGP neighbor is reached through); `description:<regex>`;
    `kind:port|portchannel|vlan`."""
    uplinks = {p.interface for p in snap.bgp_peers if p.interface} if "uplinks" in selectors else set()
    globs = [s for s in selectors if s != "uplinks" and ":" not in s]
    regexes = [re.compile(s.partition(":")[2]) for s in selectors if s.startswith("description:")]
    kinds = {s.partition(":")[2] for s in selectors if s.startswith("kind:")}
    return [p for p in snap.ports if p.name in uplinks or p.kind in kinds or (globs and glob_match(globs, p.name, p.alias))
            or any(r.search(p.description) for r in regexes)]


class Sli:
    """`members(snapshot)` for one SLO; `state` is True when members are 0/1 states."""

    state = True

    def members(self, snap: Snapshot) -> Members:
        raise NotImplementedError


class Availability(Sli):
    """Ports (or LAGs) oper-up while admin-up: an admin-down port is no member."""

    def __init__(self, cfg: SliConfig, catalogue):
        self.selectors = cfg.ports

    def members(self, snap: Snapshot) -> Members:
        out = {}
        for p in select_ports(snap, self.selectors):
            oper = p.oper_status or p.netdev_oper_status
            if p.admin_status == "up" and oper:
                out[p.name] = (1.0, 0.0 if oper == "up" else 1.0)
        return out


class Bgp(Sli):
    """Configured BGP sessions Established (consumer: the neighbor's name, else its address)."""

    def __init__(self, cfg: SliConfig, catalogue):
        self.patterns = cfg.neighbors

    def members(self, snap: Snapshot) -> Members:
        return {name or address: (1.0, 0.0 if state.lower() == "established" else 1.0)
                for _, address, name, _, state, _ in bgp_neighbors(snap) if glob_match(self.patterns, name, address)}


class _Points:
    """The points of catalogue entries, by consumer label, filtered by labels and ports."""

    def __init__(self, metrics: Sequence[Metric], match: Dict[str, str], consumer: Optional[str],
                 consumers: Sequence[str] = ()):
        self.metrics, self.match, self.consumer, self.consumers = list(metrics), match, consumer, list(consumers)

    def labels(self, m: Metric, key: tuple) -> Dict[str, str]:
        out = {k.prom: "" if v is None else str(v) for k, v in zip(m.entity.keys, key) if k.prom}
        out.update(m.prom_labels)
        return out

    def points(self, snap: Snapshot, ports: Optional[set]) -> List[Tuple[Metric, tuple, str, float]]:
        """(metric, key, consumer, value) of every point that passes the filters."""
        out = []
        for m in self.metrics:
            for key, value in m.points(snap):
                labels = self.labels(m, key)
                if any(not glob_match([p], labels.get(k, "")) for k, p in self.match.items()):
                    continue
                if ports is not None and labels.get("port") not in ports:
                    continue
                consumer = (labels.get(self.consumer) if self.consumer else next(iter(labels.values()), "")) or ""
                if glob_match(self.consumers, consumer):
                    out.append((m, key, consumer, float(value)))
        return out


class _Counting(Sli):
    """Counter SLIs: the increase of bad and total counters since the last Snapshot."""

    state = False
    bad_within_total = False  # presets whose bad events are among their total ones

    def __init__(self, bad: _Points, total: _Points, ports: Sequence[str] = ()):
        self.bad, self.total, self.ports = bad, total, list(ports)
        self._last: Dict[tuple, float] = {}  # (metric name, key) -> last value (a gauge: its highest)

    def _increase(self, m: Metric, key: tuple, value: float, seen: Dict[tuple, float]) -> float:
        ident = (m.name, key)
        last = self._last.get(ident)
        if m.kind != COUNTER:  # a cumulative difference: only rises past its highest count
            seen[ident] = value if last is None else max(last, value)
            return 0.0 if last is None else max(0.0, value - last)
        seen[ident] = value
        if last is None:
            return 0.0
        return value - last if value >= last else value

    def members(self, snap: Snapshot) -> Members:
        ports = {p.name for p in select_ports(snap, self.ports)} if self.ports else None
        seen: Dict[tuple, float] = {}
        out: Dict[str, List[float]] = {}
        for which, points in ((1, self.bad), (0, self.total)):
            for m, key, consumer, value in points.points(snap, ports):
                step = self._increase(m, key, value, seen)
                if consumer not in out and len(out) >= MAX_MEMBERS:
                    consumer = OTHER
                out.setdefault(consumer, [0.0, 0.0])[which] += step
        self._last = seen  # series that left the Snapshot are forgotten
        return {c: (total, min(bad, total) if self.bad_within_total else bad) for c, (total, bad) in out.items()}


class ErrorRatio(_Counting):
    """COUNTERS_DB errors + discards over packets + errors + discards, per port, both directions."""

    bad_within_total = True

    def __init__(self, cfg: SliConfig, catalogue):
        bad = [m for name in ("sonic_port_errors", "sonic_port_discards") for m in counters(catalogue, name, name)]
        total = [m for name in ("sonic_port_packets",) for m in counters(catalogue, name, name)] + bad
        super().__init__(_Points(bad, {}, "port"), _Points(total, {}, "port"), cfg.ports)


class CpuPath(_Counting):
    """Per probe class: trapped by the ASIC but not received by the kernel, over trapped."""

    bad_within_total = True

    def __init__(self, cfg: SliConfig, catalogue):
        super().__init__(_Points(counters(catalogue, "cpu_path.lost", "cpu_path.lost"), {}, "class", cfg.classes),
                         _Points(counters(catalogue, "cpu_path.trapped", "cpu_path.trapped"), {}, "class", cfg.classes))


class MirrorLoss(_Counting):
    """Per MIRROR_SESSION: sequence-gap losses over packets + losses."""

    bad_within_total = True

    def __init__(self, cfg: SliConfig, catalogue):
        lost = counters(catalogue, "mirror.lost", "mirror.lost")
        total = counters(catalogue, "mirror.packets", "mirror.packets") + lost
        super().__init__(_Points(lost, {}, "session", cfg.sessions), _Points(total, {}, "session", cfg.sessions))


class Events(_Counting):
    """Any two sets of catalogue counters: bad events and all events."""

    def __init__(self, cfg: SliConfig, catalogue):
        def points(names):
            return _Points([m for n in names for m in counters(catalogue, n, n)], cfg.match, cfg.consumer)
        super().__init__(points(cfg.error), points(cfg.total), cfg.ports)


class Bool(Sli):
    """A 0/1 catalogue gauge, each label set a member, good when it equals `good`."""

    def __init__(self, cfg: SliConfig, catalogue):
        self.points = _Points(counters(catalogue, cfg.metric, cfg.metric, gauge=True), cfg.match, cfg.consumer)
        self.good, self.ports = float(cfg.good), cfg.ports

    def members(self, snap: Snapshot) -> Members:
        ports = {p.name for p in select_ports(snap, self.ports)} if self.ports else None
        out: Dict[str, List[float]] = {}
        for _, _, consumer, value in self.points.points(snap, ports):
            if consumer not in out and len(out) >= MAX_MEMBERS:
                consumer = OTHER
            member = out.setdefault(consumer, [0.0, 0.0])
            member[0] += 1.0
            member[1] += 0.0 if value == self.good else 1.0
        return {c: (t, b) for c, (t, b) in out.items()}


KINDS: Dict[str, Callable[[SliConfig, object], Sli]] = {
    "availability": Availability, "bgp": Bgp, "error_ratio": ErrorRatio, "cpu_path": CpuPath,
    "mirror_loss": MirrorLoss, "events": Events, "bool": Bool,
}


def build(cfg: SliConfig, catalogue) -> Sli:
    return KINDS[cfg.kind](cfg, catalogue)
