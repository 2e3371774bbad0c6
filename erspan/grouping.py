"""Group the rows of a batch by an exact multi-word key, for per-group numpy reductions."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Groups:
    """Rows sorted by key (stable: arrival order within a group) and where each group starts.

    `order` lists row numbers group by group; `starts` indexes into `order`; reduce a column
    with e.g. `np.add.reduceat(column[order], starts)`. `keys` holds each group's key.
    """

    order: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    keys: np.ndarray  # (groups, words) uint64

    @property
    def last_rows(self) -> np.ndarray:
        return self.order[self.ends - 1]

    def reduce(self, ufunc: np.ufunc, column: np.ndarray) -> np.ndarray:
        return ufunc.reduceat(column[self.order], self.starts)


def group_rows(keys: np.ndarray) -> Groups:
    """Groups of equal rows of `keys`, an (n, words) uint64 array with n > 0."""
    order = np.lexsort(keys.T[::-1])
    ordered = keys[order]
    new = np.ones(len(order), dtype=bool)
    new[1:] = np.any(ordered[1:] != ordered[:-1], axis=1)
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(order))
    return Groups(order, starts, ends, ordered[starts])
