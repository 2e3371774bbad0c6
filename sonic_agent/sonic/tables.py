"""The tables the model follows, per database, and how a redis key maps onto them.

A table is followed either by prefix (`PORT|*`: one hash per entry) or as one whole hash
(`COUNTERS_PORT_NAME_MAP`, stored under key ""). Everything else in the databases is ignored,
so APPL_DB route churn or COUNTERS_DB counter updates never reach the model.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

from .dbconfig import Database
from .encoding import glob_escape

INTERFACE_TABLES = ("INTERFACE", "PORTCHANNEL_INTERFACE", "VLAN_INTERFACE", "VLAN_SUB_INTERFACE",
                    "LOOPBACK_INTERFACE", "MGMT_INTERFACE")

# db name -> (tables followed by prefix, tables that are one whole hash)
FOLLOWED: Dict[str, Tuple[Tuple[str, ...], Tuple[str, ...]]] = {
    "CONFIG_DB": (("DEVICE_METADATA", "PORT", "PORTCHANNEL", "PORTCHANNEL_MEMBER", "VLAN", "VLAN_MEMBER",
                   "BGP_NEIGHBOR", "MIRROR_SESSION") + INTERFACE_TABLES, ()),
    "APPL_DB": (("PORT_TABLE", "LAG_TABLE", "LAG_MEMBER_TABLE", "VLAN_TABLE"), ()),
    "STATE_DB": (("PORT_TABLE", "MIRROR_SESSION_TABLE"), ()),
    "COUNTERS_DB": ((), ("COUNTERS_PORT_NAME_MAP", "COUNTERS_LAG_NAME_MAP", "COUNTERS_QUEUE_NAME_MAP",
                         "COUNTERS_QUEUE_PORT_MAP", "COUNTERS_QUEUE_INDEX_MAP", "COUNTERS_QUEUE_TYPE_MAP",
                         "COUNTERS_PG_NAME_MAP", "COUNTERS_PG_PORT_MAP", "COUNTERS_PG_INDEX_MAP",
                         "COUNTERS_BUFFER_POOL_NAME_MAP", "COUNTERS_TRAP_NAME_MAP")),
}


# `config reload` flushes CONFIG_DB (FLUSHDB raises no per-key notification), loads the new
# config and then sets this key: its change means "re-read the whole database".
RELOAD_MARKERS: Dict[str, str] = {"CONFIG_DB": "CONFIG_DB_INITIALIZED"}


def keyspace_patterns(db: Database) -> Tuple[str, ...]:
    """psubscribe patterns for the followed tables of `db` (its id and separator from the file)."""
    prefixed, whole = FOLLOWED.get(db.name, ((), ()))
    base = f"__keyspace@{db.id}__:"
    marker = (RELOAD_MARKERS[db.name],) if db.name in RELOAD_MARKERS else ()
    return tuple(base + glob_escape(t + db.separator) + "*" for t in prefixed) + \
        tuple(base + glob_escape(t) for t in whole + marker)


def classify(db: Database, key: str) -> Optional[Tuple[str, str]]:
    """(table, key within the table) if `key` belongs to a followed table of `db`, else None."""
    prefixed, whole = FOLLOWED.get(db.name, ((), ()))
    table, sep, rest = key.partition(db.separator)
    if sep and table in prefixed:
        return table, rest
    if not sep and key in whole:
        return key, ""
    return None
