"""One namespace's raw followed tables, written by its followers and read through views.

Writers replace or update entries under a short lock and bump a generation; `view()` copies
the tables under the lock and builds the typed view outside it, at most once per generation.
"""
from __future__ import annotations

import threading
from typing import Dict, Iterable, Mapping, Optional, Tuple

from .entities import Fields
from .view import NamespaceView

Entry = Tuple[str, str, str, Optional[Fields]]  # (db, table, key, fields or None when deleted)


class NamespaceStore:
    def __init__(self, namespace: str, separators: Mapping[str, str]):
        self.namespace = namespace
        self._separators = dict(separators)
        self._lock = threading.Lock()
        self._tables: Dict[Tuple[str, str], Dict[str, Fields]] = {}
        self._generation = 0
        self._view: Optional[NamespaceView] = None
        self._view_generation = -1

    def replace(self, db: str, tables: Mapping[str, Dict[str, Fields]]) -> None:
        """A full resync of `db`: its tables become exactly `tables`."""
        with self._lock:
            for key in [k for k in self._tables if k[0] == db]:
                del self._tables[key]
            for table, entries in tables.items():
                self._tables[(db, table)] = dict(entries)
            self._generation += 1

    def apply(self, entries: Iterable[Entry]) -> None:
        with self._lock:
            for db, table, key, fields in entries:
                if fields is None:
                    self._tables.get((db, table), {}).pop(key, None)
                else:
                    self._tables.setdefault((db, table), {})[key] = fields
            self._generation += 1

    def view(self) -> NamespaceView:
        with self._lock:
            if self._view is not None and self._view_generation == self._generation:
                return self._view
            generation = self._generation
            snapshot = {k: dict(v) for k, v in self._tables.items()}
        view = NamespaceView(self.namespace, snapshot, self._separators)
        with self._lock:
            if generation > self._view_generation:
                self._view, self._view_generation = view, generation
        return view
