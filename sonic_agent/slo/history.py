"""One SLO's bounded history: buckets of `bucket_s` over its window, and who consumed its budget.

Buckets are a ring of window / bucket_s slots (numpy: total and bad per slot, and the bucket
number each slot holds, so a slot left from a previous lap reads as empty). A window's sums are
those of the buckets whose number is within the window of the current one: the current bucket
(partly filled) and the full ones before it. Attribution is coarser: `SLOTS` slots over the
window, each at most `MAX_CONSUMERS` consumers (the rest summed as "_other"), so the memory
is the same whatever the number of ports or neighbors.
"""
from __future__ import annotations

import math
from collections import Counter
from typing import Dict, Iterable, List, Mapping, Tuple

import numpy as np

SLOTS = 60
MAX_CONSUMERS = 64
OTHER = "_other"


class History:
    def __init__(self, window_s: float, bucket_s: float):
        self.window_s, self.bucket_s = window_s, bucket_s
        self.size = max(1, math.ceil(window_s / bucket_s))
        self.number = np.full(self.size, -1, dtype=np.int64)  # the bucket number held by each slot
        self.total = np.zeros(self.size)
        self.bad = np.zeros(self.size)
        self.slot_s = max(bucket_s, window_s / SLOTS)
        self.consumers: Dict[int, Counter] = {}  # attribution slot number -> consumer -> bad

    def bucket(self, t: float) -> int:
        return int(t // self.bucket_s)

    def add(self, t: float, total: float, bad: float, consumers: Mapping[str, float]) -> None:
        n = self.bucket(t)
        i = n % self.size
        if self.number[i] != n:
            self.number[i], self.total[i], self.bad[i] = n, 0.0, 0.0
        self.total[i] += total
        self.bad[i] += bad
        if consumers:
            slot = int(t // self.slot_s)
            counts = self.consumers.setdefault(slot, Counter())
            for name, value in consumers.items():
                if value > 0:
                    counts[name if name in counts or len(counts) < MAX_CONSUMERS else OTHER] += value
            oldest = slot - SLOTS
            for old in [s for s in self.consumers if s <= oldest]:
                del self.consumers[old]

    def sums(self, t: float, window_s: float) -> Tuple[float, float]:
        """(total, bad) over the buckets within `window_s` of t's bucket."""
        n = self.bucket(t)
        live = (self.number > n - round(window_s / self.bucket_s)) & (self.number <= n)
        return float(self.total[live].sum()), float(self.bad[live].sum())

    def top_consumers(self, t: float, count: int) -> List[Tuple[str, float]]:
        """The `count` consumers with the most bad events over the window."""
        first = int(t // self.slot_s) - SLOTS
        total: Counter = Counter()
        for slot, counts in self.consumers.items():
            if slot > first:
                total.update(counts)
        return total.most_common(count)

    # --- persistence (sonic_agent.slo.store) -----------------------------------------------
    def buckets(self) -> Iterable[Tuple[int, float, float]]:
        live = self.number >= 0
        return zip(self.number[live].tolist(), self.total[live].tolist(), self.bad[live].tolist())

    def put(self, number: int, total: float, bad: float) -> None:
        """A bucket as persisted (absolute values: replaying a bucket twice changes nothing)."""
        i = number % self.size
        if number >= self.number[i]:
            self.number[i], self.total[i], self.bad[i] = number, total, bad

    def slot(self, number: int) -> Dict[str, float]:
        return dict(self.consumers.get(number, {}))

    def put_slot(self, number: int, counts: Mapping[str, float]) -> None:
        self.consumers[number] = Counter({str(k): float(v) for k, v in list(counts.items())[:MAX_CONSUMERS + 1]})
