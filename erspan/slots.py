"""A bounded table of numpy columns addressed by key: the storage of the flow and session tables.

Keys (bytes) map to slots; each slot's columns hold one entry. Every batch touches its keys
at increasing clock values (their last position in the batch), and when the table would
exceed its bound the entries touched least recently are evicted, the batch's own new keys
included: after each batch the table holds exactly the most recently touched entries, as
a per-packet LRU would, and every eviction is counted. Python work per batch is one dict
lookup per distinct key; everything per entry is numpy.
"""
from __future__ import annotations

from itertools import repeat
from typing import Dict, List, Tuple

import numpy as np

INITIAL_CAPACITY = 1024


class SlotTable:
    def __init__(self, max_entries: int, columns: Dict[str, Tuple[object, tuple, object]]):
        """`columns`: name -> (dtype, trailing shape, value of a fresh entry)."""
        self.max_entries = max_entries
        self.evictions = 0
        self.clock = 0
        self._spec = columns
        self._slot: Dict[bytes, int] = {}
        self._keys = np.zeros(0, dtype=object)  # slot -> key
        self.touched = np.zeros(0, dtype=np.int64)  # -1 marks a free slot
        self.columns: Dict[str, np.ndarray] = {}
        self._grow(min(max_entries, INITIAL_CAPACITY))

    def __len__(self) -> int:
        return len(self._slot)

    def _grow(self, capacity: int) -> None:
        old = len(self.touched)
        self.touched = np.concatenate([self.touched, np.full(capacity - old, -1, dtype=np.int64)])
        for name, (dtype, shape, fresh) in self._spec.items():
            extra = np.full((capacity - old,) + shape, fresh, dtype=dtype)
            self.columns[name] = np.concatenate([self.columns[name], extra]) if name in self.columns else extra
        self._keys = np.concatenate([self._keys, np.full(capacity - old, b"", dtype=object)])

    def assign(self, keys: List[bytes], last_positions: np.ndarray, batch_rows: int) -> np.ndarray:
        """Slots for a batch's distinct keys (-1 for a new key evicted at once); new slots hold
        fresh values. `last_positions` are each key's last row in the batch of `batch_rows`."""
        touched = self.clock + last_positions
        self.clock += batch_rows
        slots = np.fromiter(map(self._slot.get, keys, repeat(-1)), dtype=np.int64, count=len(keys))
        self.touched[slots[slots >= 0]] = touched[slots >= 0]
        new = np.flatnonzero(slots < 0)
        excess = len(self._slot) + len(new) - self.max_entries
        if excess > 0:
            new = self._evict(excess, new, touched[new])
        free = np.flatnonzero(self.touched < 0)
        if len(free) < len(new):
            self._grow(min(self.max_entries, max(2 * len(self.touched), len(self._slot) + len(new))))
            free = np.flatnonzero(self.touched < 0)
        taken = free[:len(new)]
        for name, (_, _, fresh) in self._spec.items():
            self.columns[name][taken] = fresh
        self.touched[taken] = touched[new]
        new_keys = [keys[i] for i in new.tolist()]
        self._slot.update(zip(new_keys, taken.tolist()))
        self._keys[taken] = np.array(new_keys, dtype=object)
        slots[new] = taken
        return slots

    def _evict(self, excess: int, new: np.ndarray, new_touched: np.ndarray) -> np.ndarray:
        """Drop the `excess` least recently touched of the entries and the new keys; returns
        the new keys that stay."""
        occupied = np.flatnonzero(self.touched >= 0)
        candidates = np.concatenate([self.touched[occupied], new_touched])
        victims = np.argpartition(candidates, excess - 1)[:excess]
        gone = occupied[victims[victims < len(occupied)]]
        for key in self._keys[gone].tolist():
            del self._slot[key]
        self.touched[gone] = -1
        self.evictions += excess
        return np.delete(new, victims[victims >= len(occupied)] - len(occupied))

    def occupied(self) -> np.ndarray:
        """Slots in use, least recently touched first."""
        slots = np.flatnonzero(self.touched >= 0)
        return slots[np.argsort(self.touched[slots], kind="stable")]


class BoundedTable:
    """Base of the flow and session tables: a SlotTable of the subclass's COLUMNS."""

    COLUMNS: Dict[str, Tuple[object, tuple, object]] = {}

    def __init__(self, max_entries: int):
        self._table = SlotTable(max_entries, self.COLUMNS)

    def __len__(self) -> int:
        return len(self._table)

    @property
    def evictions(self) -> int:
        return self._table.evictions
