"""Pure encoder: a Snapshot -> the Prometheus text format 0.0.4 or OpenMetrics 1.0, by catalogue.

Families come out in catalogue order, one per Prometheus name (entries sharing a name are
its series, told apart by their fixed labels); an info family (`*_info`) is one series per
record, its labels the entries' texts. Every port label (`port`) is followed by the port's
`alias` and `namespace`. The cap (`max_series`) cuts from the end, so port state survives a
flood of flows, and cuts a histogram whole. Each distinct label text is escaped once per
encode: prometheus_client's own exposition escapes every label of every sample, which alone
took longer than the scrape budget for ~15,000 samples.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..catalogue import COUNTER, HISTOGRAM, INFO, Catalogue, Metric
from ..records import Snapshot

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TYPES = {COUNTER: "counter", HISTOGRAM: "histogram", INFO: "info"}  # every other kind is a gauge


class SeriesBudget:
    """How many more samples may come out; counts the ones refused."""

    def __init__(self, limit: int):
        self.left = limit
        self.cut = 0

    def take(self, samples: int = 1) -> bool:
        """Room for `samples` more (a histogram comes out whole or not at all)?"""
        if self.left >= samples:
            self.left -= samples
            return True
        self.cut += samples
        return False

    def take_up_to(self, samples: int) -> int:
        """How many of `samples` single series fit; the rest are cut."""
        room = min(samples, self.left)
        self.left -= room
        self.cut += samples - room
        return room


@dataclass
class Family:
    name: str  # counters without _total
    type: str  # counter | gauge | histogram
    help: str
    lines: List[str] = field(default_factory=list)  # sample lines, each ending in \n


def wants_openmetrics(accept: str) -> bool:
    """Same rule as prometheus_client.exposition.choose_encoder."""
    return any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))


class LabelCache:
    """Label texts kept from one encode to the next (a port's, a probe class's labels rarely
    change): emptied when any port's alias or namespace changes, and per entity past
    `MAX_PER_ENTITY` keys (flows churn)."""

    MAX_PER_ENTITY = 100_000

    def __init__(self):
        self.ports: Dict[object, Tuple[str, str]] = {}  # (namespace, name) and name -> (alias, namespace)
        self.keys: Dict[str, Dict[tuple, str]] = {}
        self.texts: Dict[Tuple[str, str], str] = {}
        self.port_texts: Dict[object, str] = {}

    def use(self, snapshot: Optional[Snapshot]) -> "LabelCache":
        ports: Dict[object, Tuple[str, str]] = {}
        for p in snapshot.ports if snapshot else ():
            ports[(p.namespace, p.name)] = (p.alias, p.namespace)
            ports.setdefault(p.name, (p.alias, p.namespace))  # a port named without its namespace: the first
        if ports != self.ports:
            self.ports, self.keys, self.port_texts = ports, {}, {}
        for name, texts in self.keys.items():
            if len(texts) > self.MAX_PER_ENTITY:
                self.keys[name] = {}
        if len(self.texts) > self.MAX_PER_ENTITY:
            self.texts = {}
        return self


class _Labels:
    """Label texts of one encode: escaped once, port labels with alias and namespace."""

    def __init__(self, cache: LabelCache):
        self._ports, self._texts, self._port_texts, self._keys = cache.ports, cache.texts, cache.port_texts, cache.keys

    def text(self, label: str, value: str) -> str:
        key = (label, value)
        out = self._texts.get(key)
        if out is None:
            out = self._texts[key] = f'{label}="{escape(value)}"'
        return out

    def port(self, name: str, namespace: Optional[str]) -> str:
        key = name if namespace is None else (namespace, name)
        out = self._port_texts.get(key)
        if out is None:
            alias, ns = self._ports.get(key) or (("", namespace or "") if namespace is not None else ("", ""))
            out = self._port_texts[key] = ",".join(
                (self.text("port", name), self.text("alias", alias), self.text("namespace", ns)))
        return out

    def of_key(self, metric: Metric, values: Sequence[Any]) -> List[str]:
        out = []
        ns = metric.entity.namespace_index
        for key, value in zip(metric.entity.keys, values):
            if key.port:
                out.append(self.port(value, None if ns is None else values[ns]))
            elif key.prom:
                out.append(self.text(key.prom, key.prom_text(value)))
        return out

    def entity_texts(self, metric: Metric) -> Dict[tuple, str]:
        """The label texts of the keys of `metric`'s entity made so far (its metrics share them)."""
        return self._keys.setdefault(metric.entity.name, {})

    def key_text(self, metric: Metric, values: tuple) -> str:
        """`of_key` joined, once per entity and key."""
        texts = self.entity_texts(metric)
        out = texts.get(values)
        if out is None:
            out = texts[values] = ",".join(self.of_key(metric, values))
        return out


def families(metrics: Iterable[Metric], source: Any, budget: SeriesBudget,
             snapshot: Optional[Snapshot] = None, cache: Optional[LabelCache] = None) -> List[Family]:
    """Every family of `metrics` with samples, their points from `source` (a Snapshot, or for
    the exporter's own counters their dict); port labels from `snapshot`."""
    labels = _Labels((cache or LabelCache()).use(snapshot))
    groups: Dict[str, List[Metric]] = {}
    for m in metrics:
        if m.prom:
            groups.setdefault(m.prom, []).append(m)
    out = []
    for name, group in groups.items():
        first = group[0]
        family = Family(name, TYPES.get(first.kind, "gauge"), first.help)
        points = [(m, m.points(source)) for m in group]
        if first.kind == INFO:
            _info(family, points, labels, budget)
        elif first.kind == HISTOGRAM:
            _histograms(family, points, labels, budget)
        else:
            _series(family, name + ("_total" if first.kind == COUNTER else ""), points, labels, budget)
        if family.lines:
            out.append(family)
    return out


def _series(family: Family, sample: str, points, labels: _Labels, budget: SeriesBudget) -> None:
    lines = family.lines
    for m, pts in points:
        fixed = ",".join(labels.text(k, v) for k, v in m.prom_labels)
        texts = labels.entity_texts(m)
        for key, value in pts[:budget.take_up_to(len(pts))]:
            body = texts.get(key)
            if body is None:
                body = labels.key_text(m, key)
            if fixed:
                body = f"{body},{fixed}" if body else fixed
            text = str(value) if type(value) is int else number(value)
            lines.append(f"{sample}{{{body}}} {text}\n" if body else f"{sample} {text}\n")


def _info(family: Family, points, labels: _Labels, budget: SeriesBudget) -> None:
    rows: Dict[tuple, List[str]] = {}
    for m, pts in points:
        for key, value in pts:
            row = rows.get(key)
            if row is None:
                row = rows[key] = labels.of_key(m, key)
            row.append(labels.text(m.info_label, str(value)))
    for row in rows.values():
        if budget.take():
            family.lines.append(f"{family.name}{{{','.join(row)}}} 1\n")


def _histograms(family: Family, points, labels: _Labels, budget: SeriesBudget) -> None:
    les: Dict[tuple, List[str]] = {}  # every histogram has the same bounds: format them once
    for m, pts in points:
        for key, h in pts:
            if not budget.take(len(h.counts) + 1 + (h.sum is not None)):
                continue
            le = les.get(h.bounds) or les.setdefault(h.bounds, [labels.text("le", repr(float(b))) for b in h.bounds]
                                                     + [labels.text("le", "+Inf")])
            base = labels.key_text(m, key)
            total = 0
            for bound, count in zip(le, h.counts):
                total += count
                family.lines.append(f"{family.name}_bucket{{{base},{bound}}} {total}\n")
            family.lines.append(f"{family.name}_count{{{base}}} {total}\n")
            if h.sum is not None:
                family.lines.append(f"{family.name}_sum{{{base}}} {h.sum}\n")


def render(fams: Iterable[Family], openmetrics: bool) -> str:
    """The families as exposition text (no `# EOF`: see `EOF`)."""
    parts = []
    for f in fams:
        header, kind = f.name, f.type
        if openmetrics and kind == "info":  # OpenMetrics: family `x`, type info, samples `x_info`
            header = f.name[:-len("_info")]
        elif not openmetrics:  # text 0.0.4: no info type; a counter's family is named with _total
            kind = "gauge" if kind == "info" else kind
            header = f.name + "_total" if kind == "counter" else f.name
        parts.append(f"# HELP {header} {escape_help(f.help, openmetrics)}\n# TYPE {header} {kind}\n")
        parts.extend(f.lines)
    return "".join(parts)


EOF = "# EOF\n"  # OpenMetrics' last line


def snapshot_text(snapshot: Snapshot, catalogue: Catalogue, openmetrics: bool, max_series: int,
                  cache: Optional[LabelCache] = None) -> Tuple[str, int]:
    """The Snapshot's exposition and how many series the cap cut."""
    budget = SeriesBudget(max_series)
    return render(families(catalogue, snapshot, budget, snapshot, cache), openmetrics), budget.cut


def escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def escape_help(text: str, openmetrics: bool) -> str:
    text = text.replace("\\", r"\\").replace("\n", r"\n")
    return text.replace('"', r"\"") if openmetrics else text


def number(value) -> str:
    if type(value) is int:
        return str(value)
    if math.isfinite(value):
        return str(int(value)) if value.is_integer() and abs(value) < 2 ** 53 else repr(value)
    return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
