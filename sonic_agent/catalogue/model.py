"""What a catalogue entry is: a neutral metric, where it is read, and its name in each vocabulary.

An `Entity` says which records of a Snapshot a family of metrics is about and what their keys
are (a port; a port, direction and class; a flow's addresses and ports ...), with each key's
Prometheus label and OpenTelemetry attribute. A `Metric` adds the value taken from each record,
its kind and unit, its `Source` (the SONiC/SAI field or kernel map it is read from: readers
take their field lists from here) and its Prometheus name, OTel name and OpenConfig path. The
encoders (sonic_agent/export) and README's tables are driven by the entries, so a counter is
added by adding one entry.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

COUNTER, GAUGE, STATE, INFO, HISTOGRAM = "counter", "gauge", "state", "info", "histogram"
# counter: monotonic; gauge: a measurement (a rate, a watermark), sampled; state: a configured or
# slowly changing value (an MTU, 0/1 up), sent on change by gNMI and an up-down counter in OTLP;
# info: text (a label of an info family in Prometheus, a string leaf in gNMI); histogram.
KINDS = (COUNTER, GAUGE, STATE, INFO, HISTOGRAM)
Point = Tuple[Tuple[Any, ...], Any]  # (key values in Entity.keys order, value)


def text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Key:
    """One key of an entity: taken from each record by `get`; `prom` its label (None: not a
    label), `otel` its attribute (None: not one), each with its own way of writing the value.
    `port` keys name a port, and Prometheus adds the port's alias and namespace after them (the
    port of that name in the namespace a `namespace` key gives, where the entity has one)."""

    name: str  # neutral name; the placeholder in gNMI path templates
    get: Union[str, Callable[[Any], Any]]  # the record's attribute of that name, or a function of it
    prom: Optional[str] = None
    otel: Optional[str] = None
    prom_text: Callable[[Any], str] = text
    otel_value: Callable[[Any], Any] = lambda v: v
    port: bool = False
    namespace: bool = False  # the namespace the record's port is in (no label of its own: the port's carry it)


@dataclass(frozen=True)
class Table:
    """Where a table entity's rows are read (sonic_agent.sonic.families): the keys of `db`
    under `name` and its separator (SCAN), or the one hash `name` when `whole`; each key's part
    after the table name split by `key` into the row's key (None: not a row of ours, counted).
    `family` names its config section (families.<family>: enabled, refresh_s, max_entries).
    Rows carry the fields the entity's metrics name (Source.field, where `{part}` makes every
    matching field a row of its own, keyed by the matched part too); `rows`, when given,
    builds them instead from (key, fields) pairs (e.g. counts)."""

    family: str
    db: str
    name: str
    key: Callable[[str], Optional[Tuple[str, ...]]] = lambda rest: (rest,)
    key_field: str = ""  # the row's key is this field's value instead (DOCKER_STATS: NAME)
    ignore: Tuple[str, ...] = ()  # keys that are not rows (DOCKER_STATS|LastUpdateTime), passed over
    whole: bool = False
    keys_only: bool = False  # counting tables: no field is read
    rows: Optional[Callable] = None
    objects: str = ""  # COUNTERS_DB objects (CounterMaps.objects: pgs, buffer_pools, traps): each row one
    # object's oid, its fields read from `<Source.table>:<oid>` of each metric (no SCAN)


@dataclass(frozen=True)
class Entity:
    """What a family of metrics is about: its records in a Snapshot and their keys."""

    name: str
    records: Callable[[Any], Iterable[Any]]  # Snapshot -> records
    keys: Tuple[Key, ...] = ()
    otel_attrs: Tuple[Tuple[str, Any], ...] = ()  # fixed attributes of every point
    help: str = ""
    table: Optional[Table] = None  # a SONiC table read into Snapshot.families[name]
    key_of: Callable[[Any], tuple] = field(init=False, repr=False, compare=False, default=None)
    namespace_index: Optional[int] = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self):
        object.__setattr__(self, "namespace_index", next((i for i, k in enumerate(self.keys) if k.namespace), None))
        attrs = [k.get for k in self.keys if isinstance(k.get, str)]
        if len(attrs) == len(self.keys) > 1:
            key_of = attrgetter(*attrs)  # one C call per record, giving the tuple
        else:
            getters = [attrgetter(k.get) if isinstance(k.get, str) else k.get for k in self.keys]

            def key_of(record, getters=getters):
                return tuple(g(record) for g in getters)
        object.__setattr__(self, "key_of", key_of)

    @property
    def prom_labels(self) -> List[str]:
        out = []
        for key in self.keys:
            if key.prom:
                out.append(key.prom)
                if key.port:
                    out += ["alias", "namespace"]
        return out


@dataclass(frozen=True)
class Source:
    """Where a metric is read: a redis database, table and field, or a kernel map and field."""

    where: str  # COUNTERS_DB, CONFIG_DB, ..., kernel, agent
    table: str = ""  # COUNTERS, RATES, PORT, ... or the kernel map
    field: str = ""  # SAI_PORT_STAT_IF_IN_OCTETS, ...; for kernel maps the value's field

    def __str__(self) -> str:
        return " ".join(part for part in (self.where, self.table, self.field) if part)


_ELEM = re.compile(r"([^/\[\]]+)((?:\[[^\]=]+=[^\]]*\])*)")
_KEY = re.compile(r"\[([^\]=]+)=([^\]]*)\]")


def parse_template(path: str) -> Tuple[Tuple[str, Tuple[Tuple[str, str], ...]], ...]:
    """'/a/b[name={port}]/c' -> (('a', ()), ('b', (('name', '{port}'),)), ('c', ()))."""
    elems = []
    for part in re.findall(r"[^/\[]+(?:\[[^\]]*\])*", path):
        m = _ELEM.fullmatch(part)
        if m is None:
            raise ValueError(f"bad gNMI path template {path!r} at {part!r}")
        elems.append((m.group(1), tuple(sorted(_KEY.findall(m.group(2))))))
    return tuple(elems)


def _with_namespace(elems, entity: "Entity"):
    """An entity with a namespace key of its own (not one a port's name carries) gets
    `[namespace={namespace}]` on its path's list element (its first element when it has none):
    multi-ASIC switches have a pool or table of one name per ASIC. The key is left out of the
    paths of the host namespace (the empty name), so single-ASIC paths are as they were."""
    if not any(k.name == "namespace" and not k.namespace for k in entity.keys) or \
            any(v == "{namespace}" for _, keys in elems for _, v in keys):
        return elems
    lists = [i for i, (_, keys) in enumerate(elems) if keys]
    at = lists[-1] if lists else 0
    name, keys = elems[at]
    return elems[:at] + ((name, tuple(sorted(keys + (("namespace", "{namespace}"),)))),) + elems[at + 1:]


@dataclass(frozen=True)
class Metric:
    """One neutral metric. `value(record)` gives its value (None: no sample for that record);
    `prom_labels`/`otel_attrs` are fixed labels that set it apart from its siblings under the
    same name (direction rx of sonic_port_bytes_total); an INFO metric's value is the text of
    label `info_label` of the Prometheus info family `prom`."""

    name: str
    entity: Entity
    kind: str
    unit: str
    help: str
    source: Source
    value: Callable[[Any], Any]
    prom: Optional[str] = None  # family name; counters without the _total suffix
    prom_labels: Tuple[Tuple[str, str], ...] = ()
    info_label: str = ""
    otel: Optional[str] = None
    otel_attrs: Tuple[Tuple[str, Any], ...] = ()
    gnmi: Optional[str] = None  # OpenConfig (or /telegen) path template, keys as {key name}
    parse: Optional[Callable[[str, Any], Any]] = None  # table metrics: (text, row's fields) -> value
    gnmi_elems: Tuple = field(init=False, repr=False, compare=False, default=())

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind {self.kind!r} is not one of {KINDS}")
        if self.kind == INFO and self.prom and not self.info_label:
            raise ValueError(f"{self.name}: an info metric in Prometheus needs info_label")
        if self.kind == INFO and self.prom and not self.prom.endswith("_info"):
            raise ValueError(f"{self.name}: an info family's name ends with _info (OpenMetrics)")
        if self.gnmi:
            elems = parse_template(self.gnmi)
            names = {k.name for k in self.entity.keys} | ({"low"} if self.kind == HISTOGRAM else set())
            for _, keys in elems:
                for _, v in keys:
                    if v.startswith("{") and v[1:-1] not in names:
                        raise ValueError(f"{self.name}: gNMI template key {v} is not a key of {self.entity.name}")
            object.__setattr__(self, "gnmi_elems", _with_namespace(elems, self.entity))

    def points(self, source) -> List[Point]:
        """(key values, value) for every record of this metric's entity in `source` (a Snapshot,
        or whatever the entity's `records` takes) that has a value."""
        key_of, value_of = self.entity.key_of, self.value
        out = []
        for record in self.entity.records(source):
            value = value_of(record)
            if value is not None:
                out.append((key_of(record), value))
        return out


class Catalogue:
    """The entries in order (the order families come out in, and are cut from the end of)."""

    def __init__(self, metrics: Sequence[Metric]):
        self.metrics: Tuple[Metric, ...] = tuple(metrics)
        self.by_name: Dict[str, Metric] = {}
        prom: Dict[str, Metric] = {}
        otel: Dict[str, Metric] = {}
        for m in self.metrics:
            if m.name in self.by_name:
                raise ValueError(f"catalogue: {m.name} twice")
            self.by_name[m.name] = m
            first = prom.setdefault(m.prom, m) if m.prom else m
            if first.entity is not m.entity or first.kind != m.kind:  # one family, one label set
                raise ValueError(f"catalogue: {m.name} shares {m.prom} with {first.name} but not its entity and kind")
            first = otel.setdefault(m.otel, m) if m.otel else m
            if (first.kind, first.unit) != (m.kind, m.unit):  # one OTel metric, one type and unit
                raise ValueError(f"catalogue: {m.name} shares {m.otel} with {first.name} but not its kind and unit")

    def __iter__(self):
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def entities(self) -> List[Entity]:
        return list({id(m.entity): m.entity for m in self.metrics}.values())

    def of_entity(self, entity: Entity) -> List[Metric]:
        return [m for m in self.metrics if m.entity is entity]

    def extended(self, *metrics: Metric) -> "Catalogue":
        return Catalogue(self.metrics + tuple(metrics))
