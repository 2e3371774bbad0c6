"""One Snapshot per tick, shared by every consumer: the pipeline's heartbeat.

A thread reads every source once per tick (`tick_s`) into a Snapshot and publishes it; each
consumer (a Prometheus scrape, an OTLP export, every gNMI stream) takes `current()`, so what
it serves is at most one tick, plus that tick's read time, old, and the sources are read the
same whatever the number of consumers. A model change (a redis keyspace event) publishes,
within RELABEL_COALESCE_S and once for a burst of changes, a Snapshot re-labelled from the
model without reading any source again: ports, LAGs and VLANs from the model, the tick's
readings kept except those of ports that left it, so gNMI ON_CHANGE follows redis within
milliseconds and a deleted port leaves every export at once.
Subscribers are told of each new Snapshot (gNMI streams wake on it).
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Dict, Optional

from .records import Snapshot
from .subscribers import Subscribers

log = logging.getLogger("telegen.snapshots")
Subscriber = Callable[[Snapshot], None]
RELABEL_COALESCE_S = 0.05  # a burst of model changes (a config reload) is one re-label


class SnapshotFeed:
    """`read(seq)` reads every source into a Snapshot; `relabel(previous, seq)` re-labels one
    from the model alone. Both run on the feed's thread only."""

    def __init__(self, read: Callable[[int], Snapshot], relabel: Callable[[Snapshot, int], Snapshot], tick_s: float,
                 after_tick: Optional[Callable[[], None]] = None):
        self._read, self._relabel, self.tick_s, self._after_tick = read, relabel, tick_s, after_tick
        self._cond = threading.Condition()
        self._current = Snapshot(timestamp=time.time())
        self._seq = 0
        self._model_changed = False
        self._stopping = False
        self._subscribers: Subscribers[Snapshot] = Subscribers(log, "snapshot")
        self._thread = threading.Thread(target=self._run, name="snapshot-feed", daemon=True)
        self.stats: Dict[str, float] = {"snapshot_ticks_total": 0, "snapshot_model_refreshes_total": 0,
                                        "snapshot_failures_total": 0, "snapshot_build_seconds": 0.0}

    def start(self) -> None:
        """Reads the first Snapshot here (consumers never see an empty one after start), then ticks."""
        self._tick()
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(5)

    def current(self) -> Snapshot:
        with self._cond:
            return self._current

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.subscribe(callback)

    def model_changed(self, _changes=None) -> None:
        """The model applied a change: re-label soon (SwitchModel.subscribe callback)."""
        with self._cond:
            self._model_changed = True
            self._cond.notify_all()

    def counters(self) -> Dict[str, float]:
        with self._cond:
            return dict(self.stats)

    def _run(self) -> None:
        next_tick = time.monotonic() + self.tick_s
        relabel_at: Optional[float] = None
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    if self._model_changed and relabel_at is None:
                        relabel_at = now + RELABEL_COALESCE_S
                    due = next_tick if relabel_at is None else min(next_tick, relabel_at)
                    if now >= due:
                        break
                    self._cond.wait(due - now)
                if self._stopping:
                    return
                self._model_changed, relabel_at = False, None  # a tick re-reads the model anyway
            now = time.monotonic()
            if now >= next_tick:
                self._tick()
                next_tick = max(next_tick + self.tick_s, now)  # a slow tick is not caught up in a burst
            else:
                self._publish(lambda seq: self._relabel(self.current(), seq), "snapshot_model_refreshes_total")

    def _tick(self) -> None:
        started = time.monotonic()
        if self._publish(self._read, "snapshot_ticks_total"):
            with self._cond:
                self.stats["snapshot_build_seconds"] = time.monotonic() - started
        if self._after_tick is not None:
            self._after_tick()

    def _publish(self, build: Callable[[int], Snapshot], counter: str) -> bool:
        try:
            snapshot = build(self._seq + 1)
        except Exception:  # a broken source must not stop the heartbeat: the last Snapshot stays
            with self._cond:
                self.stats["snapshot_failures_total"] += 1
                first = self.stats["snapshot_failures_total"] == 1
            (log.exception if first else log.debug)("building the snapshot failed; serving the last one")
            return False
        with self._cond:
            self._seq += 1
            self._current = snapshot
            self.stats[counter] += 1
        self._subscribers.tell(snapshot)
        return True
