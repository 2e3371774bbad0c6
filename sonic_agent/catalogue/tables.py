"""Helpers for the catalogue's table entities: rows of SONiC state tables (Snapshot.families)."""
from __future__ import annotations

from typing import Any, Callable, Optional, Sequence, Tuple

from ..sonic.fields import flag, number, scaled, text
from .model import Entity, Key, Metric, Source, Table

__all__ = ["flag", "number", "scaled", "text", "part", "table_entity", "field_metric", "only_text", "split_key"]


def part(i: int) -> Callable[[Any], Any]:
    """The i-th key part of a Row."""
    return lambda row: row.key[i]


NAMESPACE = Key("namespace", "namespace", prom="namespace", otel="sonic.namespace")


def table_entity(name: str, table: Table, keys: Sequence[Key], help: str, otel_attrs=()) -> Entity:
    """Rows of `table` in Snapshot.families[name]. Rows come from every namespace's redis: an
    entity not keyed by a port (whose labels carry its namespace) gets a `namespace` key."""
    keys = tuple(keys) + ((Key("namespace", "namespace", namespace=True),) if any(k.port for k in keys) else (NAMESPACE,))
    return Entity(name, lambda s, name=name: s.families.get(name, ()), keys, tuple(otel_attrs), help, table)


def field_metric(name: str, entity: Entity, kind: str, unit: str, help: str, field: str,
                 parse: Optional[Callable] = None, **names) -> Metric:
    """A metric of a table entity: `field` of each row (`{part}` patterns allowed), kept under `name`."""
    return Metric(name, entity, kind, unit, help, Source(entity.table.db, entity.table.name, field),
                  lambda row, name=name: row.values.get(name), parse=parse, **names)


def only_text(value: Any, fields=None) -> Optional[str]:
    """A text that is neither a number nor a flag (a state name): those have their own series."""
    return None if number(value) is not None or flag(value) is not None else text(value)


def split_key(parts: int, sep: str = "|") -> Callable[[str], Optional[Tuple[str, ...]]]:
    """A key of `parts` parts joined by `sep`; None (skipped) otherwise."""
    def key(rest: str) -> Optional[Tuple[str, ...]]:
        out = tuple(rest.split(sep, parts - 1))
        return out if len(out) == parts and all(out) else None
    return key


