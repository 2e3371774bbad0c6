"""SONiC's CONFIG_DB encoding rules, as ConfigDBConnector applies them.

- a list field is stored as `name@` holding the comma-joined values;
- an entry with no fields is stored as the single field `NULL` = `NULL`;
- keys are `TABLE<sep>key` with the database's separator (CONFIG_DB '|').
A dump is either nested (`{TABLE: {key: {field: value}}}`, /etc/sonic/config_db.json) or flat
(`{"TABLE|key": {field: value}}`, sonic-utilities' mock tables); both load the same way.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Mapping, Tuple, Union

import redis

Fields = Dict[str, Union[str, List[str]]]


def encode_fields(fields: Mapping[str, object]) -> Dict[str, str]:
    """Typed fields -> the redis hash SONiC stores."""
    if not fields:
        return {"NULL": "NULL"}
    out = {}
    for name, value in fields.items():
        if isinstance(value, list):
            out[name if name.endswith("@") else name + "@"] = ",".join(str(v) for v in value)
        else:
            out[name] = str(value)
    return out


def decode_fields(raw: Mapping[str, str]) -> Fields:
    """The redis hash SONiC stores -> typed fields (lists for `name@`, {} for NULL)."""
    out: Fields = {}
    for name, value in raw.items():
        if name == "NULL":
            continue
        if name.endswith("@"):
            out[name[:-1]] = value.split(",") if value else []
        else:
            out[name] = value
    return out


def iter_dump(dump: Mapping[str, object], separator: str = "|") -> Iterator[Tuple[str, Mapping[str, object]]]:
    """Yield (redis key, fields) from a nested or flat CONFIG_DB dump."""
    for top, value in dump.items():
        if not isinstance(value, dict):
            continue
        if separator in top or _is_fields(value):
            yield top, value
        else:
            for key, fields in value.items():
                yield f"{top}{separator}{key}", (fields if isinstance(fields, dict) else {})


def tables_from_dump(dump: Mapping[str, object], separator: str = "|") -> Dict[str, Dict[str, Fields]]:
    """{TABLE: {key: typed fields}} from a nested or flat dump, as a reader of redis would see it."""
    tables: Dict[str, Dict[str, Fields]] = {}
    for redis_key, fields in iter_dump(dump, separator):
        table, _, key = redis_key.partition(separator)
        tables.setdefault(table, {})[key] = decode_fields(encode_fields(fields))
    return tables


def _is_fields(value: dict) -> bool:
    return all(not isinstance(v, dict) for v in value.values()) and bool(value)


def load_dump(client: redis.Redis, dump: Mapping[str, object], separator: str = "|") -> int:
    """Write a dump into `client`'s database in one transaction; returns the number of keys."""
    pipe = client.pipeline(transaction=True)
    count = 0
    for key, fields in iter_dump(dump, separator):
        pipe.delete(key)
        pipe.hset(key, mapping=encode_fields(fields))
        count += 1
    pipe.execute()
    return count


def read_table(client: redis.Redis, table: str, separator: str) -> Dict[str, Fields]:
    """{key-without-table: decoded fields} for every key of `table`."""
    prefix = table + separator
    keys = list(client.scan_iter(match=glob_escape(prefix) + "*", count=1000))
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    return {key[len(prefix):]: decode_fields(raw) for key, raw in zip(keys, pipe.execute())}


def glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def pipeline_replies(pipe) -> list:
    """A pipeline's replies, one redis refused (WRONGTYPE: the key holds another type) as None,
    so one odd key never costs the rest of its read; lost connections still raise."""
    return [None if isinstance(r, redis.ResponseError) else r for r in pipe.execute(raise_on_error=False)]
