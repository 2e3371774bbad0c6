"""Per mirror stream counters: (outer src, outer dst, GRE protocol, session id) -> packets, lost,
truncated, malformed by reason. Bounded like the flow table (least recently seen evicted).

Loss comes from GRE sequence numbers: they are 32-bit and wrap; a stream whose numbers never
advance (senders that keep 0) claims no loss; a late (reordered or duplicate) number does
not move the high-water mark, and only numbers skipped past it count as lost.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .decoder import Decoded
from .flows import address
from .grouping import group_rows
from .reasons import FIRST_SKIPPED, NAMES

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


class SessionTable:
    def __init__(self, max_sessions: int = 4096):
        self.max_sessions = max_sessions
        self.evictions = 0
        # key -> [packets, lost, truncated, malformed dict, sequence high-water, first, last]
        self._sessions: "OrderedDict[Tuple[int, ...], list]" = OrderedDict()

    def __len__(self) -> int:
        return len(self._sessions)

    def add(self, d: Decoded) -> None:
        rows = np.flatnonzero(d.session)
        if not len(rows):
            return
        meta = (d.outer_version[rows] << 32) | ((d.gre_proto[rows] + 1) << 12) | (d.session_id[rows] + 1)
        groups = group_rows(np.column_stack([d.outer_src[rows], d.outer_dst[rows], meta.astype(np.uint64)]))
        sizes = groups.ends - groups.starts
        truncated = groups.reduce(np.add, d.truncated[rows].astype(np.int64))
        first = groups.reduce(np.minimum, d.timestamp[rows])
        last = groups.reduce(np.maximum, d.timestamp[rows])
        malformed = self._malformed(groups, sizes, d.reason[rows])
        sequence = d.sequence[rows]
        keys = list(map(tuple, groups.keys.tolist()))
        for g in np.argsort(groups.last_rows, kind="stable").tolist():
            entry = self._entry(keys[g], first[g])
            entry[0] += int(sizes[g])
            entry[2] += int(truncated[g])
            for reason, count in malformed.get(g, {}).items():
                entry[3][reason] = entry[3].get(reason, 0) + count
            seqs = sequence[groups.order[groups.starts[g]:groups.ends[g]]]
            seqs = seqs[seqs >= 0]
            if len(seqs):
                lost, entry[4] = sequence_loss(seqs, entry[4])
                entry[1] += lost
            entry[6] = max(entry[6], float(last[g]))

    def _entry(self, key: Tuple[int, ...], first_seen: float) -> list:
        entry = self._sessions.get(key)
        if entry is None:
            entry = self._sessions[key] = [0, 0, 0, {}, None, float(first_seen), float(first_seen)]
            if len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)
                self.evictions += 1
        else:
            self._sessions.move_to_end(key)
        return entry

    @staticmethod
    def _malformed(groups, sizes: np.ndarray, reason: np.ndarray) -> Dict[int, Dict[str, int]]:
        group_of = np.repeat(np.arange(len(sizes)), sizes)
        ordered = reason[groups.order]
        bad = (ordered > 0) & (ordered < FIRST_SKIPPED)
        if not bad.any():
            return {}
        pairs, counts = np.unique(np.column_stack([group_of[bad], ordered[bad]]), axis=0, return_counts=True)
        result: Dict[int, Dict[str, int]] = {}
        for (g, code), count in zip(pairs.tolist(), counts.tolist()):
            result.setdefault(g, {})[NAMES[code]] = count
        return result

    def sessions(self) -> List[Session]:
        return [self._session(key, entry) for key, entry in self._sessions.items()]

    @staticmethod
    def _session(key: Tuple[int, ...], entry: list) -> Session:
        src_hi, src_lo, dst_hi, dst_lo, meta = key
        version, gre_proto, session_id = meta >> 32, (meta >> 12) & 0x1FFFF, meta & 0xFFF
        return Session(
            outer_src=address(version, src_hi, src_lo) if version else None,
            outer_dst=address(version, dst_hi, dst_lo) if version else None,
            gre_proto=gre_proto - 1 if gre_proto else None,
            session_id=session_id - 1 if session_id else None,
            packets=entry[0], lost=entry[1], truncated=entry[2], malformed=dict(entry[3]),
            first_seen=entry[5], last_seen=entry[6])
