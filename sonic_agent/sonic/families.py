"""SONiC's state tables as rows for the catalogue's table entities (transceivers, platform,
routing, resources, containers), each family read at its own refresh interval.

A due table is read with SCAN (`TABLE<sep>*`, at most `max_entries` keys: a cut is shown by
`telegen_sonic_table_truncated`) and one pipelined HGETALL per database; a table that is not
due keeps its last rows. Each key becomes a row by its entity's `Table.key`; each field its
metrics name (Source.field, `{part}` patterns making a row per matching field) is parsed by
the metric (sonic_agent.sonic.fields): a present field that no metric could parse ("N/A",
"None", "Updating") is no value and is counted per table and field
(`telegen_sonic_fields_unparsed_total`), never an error for the rest of its family.
"""
from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import redis

from ..catalogue import INFO, Catalogue, Entity, Metric
from ..config import FamilyConfig, next_refresh
from ..records import Row
from .counters import CounterMaps
from .fields import number, text
from .encoding import glob_escape, pipeline_replies

MAX_UNPARSED_KINDS = 512  # distinct (table, field) counted; the rest under (table, "_other")
SCAN_COUNT = 1000


def _pattern(field: str) -> Optional[re.Pattern]:
    if "{" not in field:
        return None
    out, rest = "", field
    while "{" in rest:
        before, _, after = rest.partition("{")
        name, _, rest = after.partition("}")
        out += re.escape(before) + (r"(\d+)" if name == "lane" else r"(.+?)")
    return re.compile(out + re.escape(rest))


class _EntityRows:
    """Builds one entity's rows from its table's (key, fields) entries."""

    def __init__(self, entity: Entity, metrics: Sequence[Metric]):
        self.entity, self.table = entity, entity.table
        self.fields = [(m, m.source.field, _pattern(m.source.field), m.parse or (text if m.kind == INFO else number))
                       for m in metrics]

    def build(self, entries: Sequence[Tuple[str, Mapping[str, str]]], namespace: str,
              unparsed: Callable[[str, str], None], skipped: Callable[[], None]) -> List[Row]:
        if self.table.rows is not None:
            return self.table.rows(entries, namespace)
        out = []
        for rest, fields in entries:
            if rest in self.table.ignore:
                continue
            base = self.table.key(rest) if not self.table.key_field else (
                (str(fields[self.table.key_field]),) if fields.get(self.table.key_field) else None)
            if base is None:
                skipped()
                continue
            rows: Dict[tuple, Dict[str, Any]] = {}
            tried: Dict[str, bool] = {}  # field -> some metric made a value of it
            for metric, field, pattern, parse in self.fields:
                if pattern is None:
                    matches = [(field, base)] if field in fields else []
                else:
                    matches = [(name, base + m.groups()) for name in fields for m in (pattern.fullmatch(name),) if m]
                for name, key in matches:
                    value = parse(fields[name], fields)
                    tried[name] = tried.get(name, False) or value is not None
                    if value is not None:
                        rows.setdefault(key, {})[metric.name] = value
            for name, ok in tried.items():
                if not ok and fields[name] != "":
                    unparsed(self.table.name, name)
            out += [Row(key, values, namespace) for key, values in rows.items()]
        return out


class FamilyReader:
    """One namespace's table entities of a catalogue, each family read when its refresh is due."""

    def __init__(self, catalogue: Catalogue, settings: Mapping[str, FamilyConfig]):
        self._settings = settings
        self._builders: List[_EntityRows] = [
            _EntityRows(e, catalogue.of_entity(e)) for e in catalogue.entities()
            if e.table is not None and settings.get(e.table.family, FamilyConfig()).enabled]
        self.rows: Dict[str, List[Row]] = {}
        self._next: Dict[str, float] = {}
        self.unparsed: Counter = Counter()
        self.skipped: Counter = Counter()
        self.truncated: Dict[str, int] = {}
        self.cuts: Counter = Counter()  # reads that stopped at max_entries, per table
        self.reads = 0

    def _count_unparsed(self, table: str, field: str) -> None:
        key = (table, field)
        if key not in self.unparsed and len(self.unparsed) >= MAX_UNPARSED_KINDS:
            key = (table, "_other")
        self.unparsed[key] += 1

    def read(self, connect: Callable[[str], Tuple[redis.Redis, str]], namespace: str, maps: CounterMaps,
             now: Optional[float] = None) -> Dict[str, List[Row]]:
        """Re-read the due families; `connect(db)` gives a client and the db's separator, `maps`
        the namespace's COUNTERS_DB objects. A redis error propagates (the caller keeps the last
        rows and retries at the next tick)."""
        now = time.monotonic() if now is None else now
        due = [b for b in self._builders if now >= self._next.get(b.table.family, 0.0)]
        if not due:
            return self.rows
        tables: Dict[Tuple[str, str, bool, bool], List[_EntityRows]] = {}
        for b in due:
            t = b.table
            if not t.objects:
                tables.setdefault((t.db, t.name, t.whole, t.keys_only), []).append(b)
        objects = [b for b in due if b.table.objects]
        if objects:
            self._read_objects(objects, connect, namespace, maps)
        entries = self._read_tables(tables, connect)
        for spec, builders in tables.items():
            for b in builders:
                self.rows[b.entity.name] = b.build(entries[spec], namespace, self._count_unparsed,
                                                    lambda table=spec[1]: self.skipped.update([table]))
        for b in due:
            self._next[b.table.family] = next_refresh(now, self._settings.get(b.table.family, FamilyConfig()).refresh_s)
        self.reads += 1
        return self.rows

    def _read_tables(self, tables, connect) -> Dict[tuple, List[Tuple[str, Mapping[str, str]]]]:
        """(key after `TABLE<sep>`, fields) of every due table: SCAN per table, then one
        pipelined HGETALL per database."""
        by_db: Dict[str, List[Tuple[tuple, List[str], int]]] = {}
        out: Dict[tuple, List[Tuple[str, Mapping[str, str]]]] = {}
        for spec, builders in tables.items():
            db, name, whole, keys_only = spec
            client, sep = connect(db)
            if whole:
                keys, cut = [name], len(name)
            else:
                cap = max(self._settings.get(b.table.family, FamilyConfig()).max_entries for b in builders)
                found, cursor = {}, 0  # SCAN may return a key twice (rehashing): each is read once
                while True:
                    cursor, batch = client.scan(cursor, match=glob_escape(name + sep) + "*", count=SCAN_COUNT)
                    found.update(dict.fromkeys(batch))
                    if len(found) >= cap or not cursor:
                        break
                keys = list(found)
                self.truncated[name] = int(len(keys) > cap or (len(keys) == cap and bool(cursor)))
                self.cuts[name] += self.truncated[name]
                keys, cut = keys[:cap], len(name) + len(sep)
            if keys_only:
                out[spec] = [(k[cut:], {}) for k in keys]
            else:
                by_db.setdefault(db, []).append((spec, keys, cut))
        for db, wanted in by_db.items():
            pipe = connect(db)[0].pipeline(transaction=False)
            for _, keys, _ in wanted:
                for k in keys:
                    pipe.hgetall(k)
            replies = iter(pipeline_replies(pipe))
            for spec, keys, cut in wanted:
                out[spec] = [(k[cut:], fields) for k, fields in ((k, next(replies)) for k in keys) if fields]
        return out

    def _read_objects(self, builders: Sequence[_EntityRows], connect, namespace: str, maps: CounterMaps) -> None:
        """COUNTERS_DB objects by oid: one pipelined HMGET per object and table (no SCAN), at most
        max_entries objects of each kind (a cut shows under the kind: queues, pgs, ...)."""
        client, sep = connect("COUNTERS_DB")
        pipe = client.pipeline(transaction=False)
        plans = []
        for b in builders:
            by_table: Dict[str, List[tuple]] = {}
            for entry in b.fields:
                by_table.setdefault(entry[0].source.table, []).append(entry)
            objects = maps.objects.get(b.table.objects, [])
            cap = self._settings.get(b.table.family, FamilyConfig()).max_entries
            self.truncated[b.table.objects] = int(len(objects) > cap)
            self.cuts[b.table.objects] += self.truncated[b.table.objects]
            objects = objects[:cap]
            for _, oid in objects:
                for table, entries in by_table.items():
                    pipe.hmget(f"{table}{sep}{oid}", [e[1] for e in entries])
            plans.append((b, objects, list(by_table.values())))
        replies = iter(pipeline_replies(pipe))
        for b, objects, groups in plans:
            rows = []
            for key, _ in objects:
                values: Dict[str, Any] = {}
                for entries in groups:
                    for (metric, field, _, parse), raw in zip(entries, next(replies) or ()):
                        if raw is None:
                            continue
                        value = parse(raw, {})
                        if value is None:
                            self._count_unparsed(metric.source.table, field)
                        else:
                            values[metric.name] = value
                if values:
                    rows.append(Row(key, values, namespace))
            self.rows[b.entity.name] = rows

    def counters(self, namespace: str) -> Dict[str, List[Row]]:
        """The reader's own rows: unparsed fields, skipped keys and truncated tables."""
        return {"unparsed": [Row(key, {"count": n}, namespace) for key, n in sorted(self.unparsed.items())],
                "table_health": [Row((t,), {"skipped": self.skipped.get(t, 0), "truncated": self.truncated.get(t, 0),
                                            "cuts": self.cuts.get(t, 0)}, namespace)
                                 for t in sorted(set(self.skipped) | set(self.truncated))]}
