"""Follow one redis instance of one namespace: full sync, then keyspace notifications.

A `Follower` thread psubscribes the followed tables' keyspace channels *before* reading
them, so nothing changed during the sync is lost; each batch of notifications is re-read with
one pipelined HGETALL per database and applied to the store in one step. When redis goes
away (restart, `config reload`, warm reboot) it logs, marks itself disconnected, waits a
capped, jittered, exponentially growing delay (interrupted by stop) and starts over with a
full resync.
"""
from __future__ import annotations

import logging
import random
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence, Tuple

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .dbconfig import Database, DatabaseConfig
from .encoding import decode_fields, read_table
from .store import Entry, NamespaceStore
from .tables import FOLLOWED, RELOAD_MARKERS, classify, keyspace_patterns

log = logging.getLogger(__name__)

REDIS_ERRORS = (redis.ConnectionError, redis.TimeoutError, OSError)

BATCH_MAX = 2048  # notifications applied per step
POLL_S = 0.2  # longest wait for a notification before checking for stop


@dataclass(frozen=True)
class Change:
    """What changed: op is "set" or "del" for one entry, "resync" after a full (re)load."""

    namespace: str
    db: str
    table: str
    key: str
    op: str


@dataclass(frozen=True)
class ConnectionState:
    namespace: str
    instance: str
    connected: bool
    reconnects: int
    last_error: str = ""


def backoff_delay(failures: int, cap_s: float, base_s: float = 0.1) -> float:
    """Exponential in the number of consecutive failures, capped, with half of it jittered."""
    delay = min(cap_s, base_s * (2 ** min(failures, 30)))
    return delay / 2 + random.uniform(0, delay / 2)


def read_followed(client: redis.Redis, db: Database) -> Dict[str, Dict[str, dict]]:
    """Every followed table of `db` as {table: {key: fields}}."""
    prefixed, whole = FOLLOWED.get(db.name, ((), ()))
    tables = {table: read_table(client, table, db.separator) for table in prefixed}
    if whole:
        pipe = client.pipeline(transaction=False)
        for table in whole:
            pipe.hgetall(table)
        for table, raw in zip(whole, pipe.execute()):
            tables[table] = {"": decode_fields(raw)} if raw else {}
    return tables


def connect(config: DatabaseConfig, db: str) -> redis.Redis:
    """A client that fails fast (the follower does its own retrying)."""
    return config.connect(db, retry=Retry(NoBackoff(), 0), health_check_interval=10)


class Follower(threading.Thread):
    def __init__(self, config: DatabaseConfig, instance: str, dbs: Sequence[Database], store: NamespaceStore,
                 on_changes: Callable[[List[Change]], None], reconnect_max_s: float, stop: threading.Event):
        super().__init__(name=f"sonic-{config.namespace or 'host'}-{instance}", daemon=True)
        self.namespace, self.instance = config.namespace, instance
        self._config, self._dbs, self._store = config, list(dbs), store
        self._by_id = {db.id: db for db in self._dbs}
        self._on_changes, self._max_s, self._stopping = on_changes, reconnect_max_s, stop
        self.synced = threading.Event()
        self.applied = 0  # keyspace notifications applied (read by benchmarks and tests)
        self._state = ConnectionState(self.namespace, instance, False, 0)

    @property
    def state(self) -> ConnectionState:
        return self._state

    def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                self._follow()
                return
            except REDIS_ERRORS as exc:
                error = str(exc)
            except Exception as exc:  # an unexpected reply or a bug: resync rather than stop following
                log.exception("sonic follower failed", extra={"namespace": self.namespace, "instance": self.instance})
                error = f"{type(exc).__name__}: {exc}"
            was_connected = self._state.connected
            failures = 1 if was_connected else failures + 1
            delay = backoff_delay(failures, self._max_s)
            self._state = ConnectionState(self.namespace, self.instance, False,
                                          self._state.reconnects + int(was_connected), error)
            log.warning("sonic redis connection lost" if was_connected else "sonic redis unreachable", extra={
                "namespace": self.namespace, "instance": self.instance, "error": error,
                "retry_in_s": round(delay, 2)})
            self._stopping.wait(delay)

    def sync_once(self) -> None:
        """Read every followed table now (no thread, no subscription): for one-shot readers."""
        for db in self._dbs:
            with connect(self._config, db.name) as client:
                self._store.replace(db.name, read_followed(client, db))
        self.synced.set()

    def _follow(self) -> None:
        clients = {db.name: connect(self._config, db.name) for db in self._dbs}
        pubsub = clients[self._dbs[0].name].pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.psubscribe(*[p for db in self._dbs for p in keyspace_patterns(db)])
            self._check_notifications(clients[self._dbs[0].name])
            resynced = self._resync(clients, self._dbs)
            self._state = ConnectionState(self.namespace, self.instance, True, self._state.reconnects,
                                          self._state.last_error)
            log.info("sonic redis connected and synced", extra={"namespace": self.namespace, "instance": self.instance})
            self.synced.set()
            self._on_changes(resynced)
            while not self._stopping.is_set():
                batch = self._drain(pubsub)
                if batch:
                    self._apply(clients, batch)
        finally:
            pubsub.close()
            for client in clients.values():
                client.close()

    def _drain(self, pubsub: redis.client.PubSub) -> List[Tuple[Database, str]]:
        """Up to BATCH_MAX (db, redis key) pairs from the keyspace channels."""
        batch: List[Tuple[Database, str]] = []
        message = pubsub.get_message(timeout=POLL_S)
        while message is not None:
            channel = message["channel"]
            split = channel.find("__:")
            db = self._by_id.get(int(channel[11:split])) if channel.startswith("__keyspace@") and split > 11 else None
            if db is not None:
                batch.append((db, channel[split + 3:]))
            if len(batch) >= BATCH_MAX:
                break
            message = pubsub.get_message(timeout=0)
        return batch

    def _resync(self, clients: Dict[str, redis.Redis], dbs: Sequence[Database]) -> List[Change]:
        for db in dbs:
            self._store.replace(db.name, read_followed(clients[db.name], db))
        return [Change(self.namespace, db.name, "", "", "resync") for db in dbs]

    def _apply(self, clients: Dict[str, redis.Redis], batch: List[Tuple[Database, str]]) -> None:
        reloaded = {db.name: db for db, key in batch if key == RELOAD_MARKERS.get(db.name)}
        unique: Dict[Tuple[str, str], Tuple[Database, str, str, str]] = {}
        for db, key in batch:
            where = classify(db, key) if db.name not in reloaded else None
            if where is not None:
                unique[(db.name, key)] = (db, key, *where)
        by_db: Dict[str, List[Tuple[Database, str, str, str]]] = {}
        for item in unique.values():
            by_db.setdefault(item[0].name, []).append(item)
        entries: List[Entry] = []
        changes = self._resync(clients, list(reloaded.values()))
        for name, items in by_db.items():
            pipe = clients[name].pipeline(transaction=False)
            for _, key, _, _ in items:
                pipe.hgetall(key)
            for (db, _, table, sub), raw in zip(items, pipe.execute()):
                fields = decode_fields(raw) if raw else None
                entries.append((db.name, table, sub, fields))
                changes.append(Change(self.namespace, db.name, table, sub, "set" if raw else "del"))
        self._store.apply(entries)
        self.applied += len(batch)
        self._on_changes(changes)

    def _check_notifications(self, client: redis.Redis) -> None:
        try:
            flags = client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        except redis.ResponseError:
            return  # CONFIG may be renamed away; then trust the deployment
        if "K" not in flags or not ({"A", "h"} & set(flags)):
            log.warning("redis keyspace notifications are off: the model will not follow changes",
                        extra={"namespace": self.namespace, "instance": self.instance, "flags": flags})

