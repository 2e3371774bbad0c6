"""The agent's one redis writer: the STATE_DB table it owns (TELEGEN_SLO_TABLE), nothing else.

Every other client of the agent only reads. `replace(entries)` writes each entry's fields in
one pipelined round trip and deletes the table's entries that are not among them (an SLO
removed from the config leaves STATE_DB at the next write).
"""
from __future__ import annotations

from typing import Callable, Mapping

import redis

from .encoding import glob_escape


class TableWriter:
    def __init__(self, connect: Callable[[], redis.Redis], table: str, separator: str = "|"):
        self._connect, self.table, self.sep = connect, table, separator
        self._client = None

    def replace(self, entries: Mapping[str, Mapping[str, str]]) -> None:
        """Raises redis.RedisError when redis is away (the caller counts it and tries again)."""
        if self._client is None:
            self._client = self._connect()
        try:
            stale = [k for k in self._client.scan_iter(match=glob_escape(self.table + self.sep) + "*", count=1000)
                     if k[len(self.table) + len(self.sep):] not in entries]
            pipe = self._client.pipeline(transaction=True)
            if stale:
                pipe.delete(*stale)
            for name, fields in entries.items():
                key = f"{self.table}{self.sep}{name}"
                pipe.delete(key)
                pipe.hset(key, mapping=dict(fields))
            pipe.execute()
        except redis.RedisError:
            self._client = None  # reconnect next time
            raise
