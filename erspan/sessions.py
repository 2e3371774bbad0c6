"""Per mirror stream counters: (outer src, outer dst, GRE protocol, session id) -> packets, lost,
truncated, malformed by reason. Bounded like the flow table (a `SlotTable`, LRU, evictions
counted); the only Python loop runs once per stream with sequence numbers in a batch.

Loss comes from GRE sequence numbers: they are 32-bit and wrap; a stream whose numbers never
advance (senders that keep 0) claims no loss; a late (reordered or duplicate) number does
not move the high-water mark, and only numbers skipped past it count as lost.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .decoder import Decoded
from .grouping import group_rows
from .reasons import FIRST_SKIPPED, NAMES
from .slots import BoundedTable
from .streams import STREAM_WORDS, pack_streams, unpack_stream

WRAP = 1 << 32


@dataclass(frozen=True)
class Session:
    outer_src: Optional[str]  # None for SPAN frames (no encapsulation)
    outer_dst: Optional[str]
    gre_proto: Optional[int]
    session_id: Optional[int]
    packets: int
    lost: int
    truncated: int
    malformed: Dict[str, int]
    first_seen: float
    last_seen: float


def sequence_loss(seqs: np.ndarray, previous: Optional[int]) -> Tuple[int, int]:
    """(numbers skipped, new high-water mark) for one stream's sequence numbers in arrival order."""
    origin = int(seqs[0]) if previous is None else previous
    steps = np.diff(seqs, prepend=origin)
    position = np.cumsum((steps + (1 << 31)) % WRAP - (1 << 31))
    high = np.maximum.accumulate(np.concatenate(([0], position)))
    lost = int(np.maximum(position - high[:-1] - 1, 0).sum())
    return lost, (origin + int(high[-1])) % WRAP


SESSION_COLUMNS = {
    "key": (np.uint64, (STREAM_WORDS,), 0), "packets": (np.int64, (), 0), "lost": (np.int64, (), 0),
    "truncated": (np.int64, (), 0), "high_seq": (np.int64, (), -1),  # -1: no sequence seen yet
    "first": (np.float64, (), np.inf), "last": (np.float64, (), -np.inf),
    "malformed": (np.int64, (FIRST_SKIPPED,), 0),  # by reason code
}


class SessionTable(BoundedTable):
    """Sessions keyed by (outer src, outer dst, GRE protocol, session id)."""

    COLUMNS = SESSION_COLUMNS

    def __init__(self, max_sessions: int = 4096):
        super().__init__(max_sessions)

    def add(self, d: Decoded) -> None:
        rows = np.flatnonzero(d.session)
        if not len(rows):
            return
        groups = group_rows(pack_streams(d, rows))
        slots = self._table.assign(groups.keys.view(np.dtype((np.void, 8 * STREAM_WORDS))).ravel().tolist(),
                                   groups.last_rows, len(rows))
        kept = slots >= 0
        s, c = slots[kept], self._table.columns
        c["key"][s] = groups.keys[kept]
        c["packets"][s] += (groups.ends - groups.starts)[kept]
        c["truncated"][s] += groups.reduce(np.add, d.truncated[rows].astype(np.int64))[kept]
        c["first"][s] = np.minimum(c["first"][s], groups.reduce(np.minimum, d.timestamp[rows])[kept])
        c["last"][s] = np.maximum(c["last"][s], groups.reduce(np.maximum, d.timestamp[rows])[kept])
        slot_of_row = np.repeat(slots, groups.ends - groups.starts)  # in groups.order
        reason = d.reason[rows][groups.order]
        bad = (slot_of_row >= 0) & (reason > 0) & (reason < FIRST_SKIPPED)
        np.add.at(c["malformed"], (slot_of_row[bad], reason[bad]), 1)
        sequence = d.sequence[rows][groups.order]
        for g in np.flatnonzero(kept & (groups.reduce(np.maximum, d.sequence[rows]) >= 0)).tolist():
            seqs = sequence[groups.starts[g]:groups.ends[g]]
            high = int(c["high_seq"][slots[g]])
            lost, c["high_seq"][slots[g]] = sequence_loss(seqs[seqs >= 0], high if high >= 0 else None)
            c["lost"][slots[g]] += lost

    def sessions(self) -> List[Session]:
        """Every session, least recently seen first."""
        slots = self._table.occupied()
        columns = [self._table.columns[name][slots].tolist() for name in SESSION_COLUMNS]
        return [_session(*row) for row in zip(*columns)]


def _session(key, packets, lost, truncated, _high_seq, first, last, malformed) -> Session:
    return Session(packets=packets, lost=lost, truncated=truncated,
                   malformed={NAMES[code]: n for code, n in enumerate(malformed) if n},
                   first_seen=first, last_seen=last, **unpack_stream(*key))
