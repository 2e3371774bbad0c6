"""One gNMI Subscribe RPC: ONCE, POLL, or STREAM with SAMPLE, ON_CHANGE and TARGET_DEFINED.

Every reply selects from the current Snapshot (the pipeline's, shared by every stream: a
stream never reads a source itself, and streams on the same paths share the selection).
ON_CHANGE subscriptions are re-diffed whenever a new Snapshot is published (each tick, and at
once after a model change; see `gnmi.ChangeFeed`); changed leaves go out as updates, vanished
ones as deletes. SAMPLE runs at `sample_interval` (at least `MIN_SAMPLE_S`; 0 means that
minimum); TARGET_DEFINED samples counters every `TARGET_DEFINED_SAMPLE_S` and sends the rest
on change.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Tuple

from pygnmi.spec.v080 import gnmi_pb2

from ..records import Snapshot
from ..catalogue import CATALOGUE, Catalogue
from .gnmi_paths import Leaf, Leaves, PathKey, Pattern, is_sampled, selected, to_proto, typed_value

MIN_SAMPLE_S = 1.0
TARGET_DEFINED_SAMPLE_S = 10.0
UPDATES_PER_NOTIFICATION = 1000
SYNC = gnmi_pb2.SubscribeResponse(sync_response=True)
_UNSENT = object()


@dataclass
class Stream:
    """One effective subscription: a pattern, a leaf filter, and when it next fires."""

    pattern: Pattern
    sampled: bool  # SAMPLE (True) or ON_CHANGE (False)
    interval_s: float  # SAMPLE only
    keep: Callable[[Leaf], bool] = lambda leaf: True
    suppress_redundant: bool = False
    due: float = 0.0
    sent: Leaves = field(default_factory=dict)

    def select(self, snap: Snapshot, catalogue: Catalogue) -> Leaves:
        return {p: leaf for p, leaf in selected(snap, self.pattern, catalogue).items() if self.keep(leaf)}


def streams_for(subscription: gnmi_pb2.Subscription, pattern: Pattern) -> List[Stream]:
    mode, interval = subscription.mode, max(subscription.sample_interval / 1e9, MIN_SAMPLE_S)
    if mode == gnmi_pb2.SAMPLE:
        return [Stream(pattern, True, interval, suppress_redundant=subscription.suppress_redundant)]
    if mode == gnmi_pb2.ON_CHANGE:
        return [Stream(pattern, False, 0.0)]
    return [Stream(pattern, True, TARGET_DEFINED_SAMPLE_S, keep=is_sampled),
            Stream(pattern, False, 0.0, keep=lambda leaf: not is_sampled(leaf))]


class Wakeup:
    """What a waiting stream is told: a poll, a model change, or the end of the RPC."""

    def __init__(self):
        self._cond = threading.Condition()
        self.polls = 0
        self.changed = False
        self.ended = False

    def poll(self) -> None:
        with self._cond:
            self.polls += 1
            self._cond.notify()

    def change(self) -> None:
        with self._cond:
            self.changed = True
            self._cond.notify()

    def end(self) -> None:
        with self._cond:
            self.ended = True
            self._cond.notify()

    def wait(self, timeout: Optional[float]) -> Tuple[bool, int, bool]:
        """Sleep until told something or `timeout`; then (ended, polls, changed), resetting the last two."""
        with self._cond:
            if not (self.polls or self.changed or self.ended):
                self._cond.wait(timeout)
            told = (self.ended, self.polls, self.changed)
            self.polls, self.changed = 0, False
            return told


def notifications(leaves: Leaves, deleted: List[PathKey], encoding: int, timestamp_ns: int
                  ) -> Iterator[gnmi_pb2.SubscribeResponse]:
    items = list(leaves.items())
    for start in range(0, max(len(items), 1), UPDATES_PER_NOTIFICATION):
        chunk = items[start:start + UPDATES_PER_NOTIFICATION]
        notification = gnmi_pb2.Notification(
            timestamp=timestamp_ns, update=[gnmi_pb2.Update(path=to_proto(p), val=typed_value(leaf, encoding))
                                            for p, leaf in chunk],
            delete=[to_proto(p) for p in deleted] if start == 0 else [])
        if notification.update or notification.delete:
            yield gnmi_pb2.SubscribeResponse(update=notification)


def timestamp_ns(snap: Snapshot) -> int:
    return int(snap.timestamp * 1e9) or time.time_ns()


class IdleTimeout(Exception):
    """A POLL subscription had no poll for its idle time."""


def run_subscription(request: gnmi_pb2.SubscriptionList, patterns: List[Pattern], snapshot_fn: Callable[[], Snapshot],
                     wakeup: Wakeup, catalogue: Catalogue = CATALOGUE, idle_s: Optional[float] = None
                     ) -> Iterator[gnmi_pb2.SubscribeResponse]:
    """The responses of one Subscribe RPC, ending when the mode says so or `wakeup.end()`;
    `wakeup.change()` means a new Snapshot is out. A POLL subscription raises IdleTimeout when
    `idle_s` (None: never) pass without a poll."""
    streams = [s for sub, pattern in zip(request.subscription, patterns) for s in streams_for(sub, pattern)]
    snap = snapshot_fn()
    now = time.monotonic()
    initial: Leaves = {}
    for stream in streams:
        stream.sent = stream.select(snap, catalogue)
        stream.due = now + stream.interval_s
        initial.update(stream.sent)
    if not request.updates_only:
        yield from notifications(initial, [], request.encoding, timestamp_ns(snap))
    yield SYNC
    if request.mode == gnmi_pb2.SubscriptionList.ONCE:
        return
    poll = request.mode == gnmi_pb2.SubscriptionList.POLL
    samplers = [s for s in streams if s.sampled]
    last_poll = time.monotonic()
    while True:
        if poll:
            timeout = None if idle_s is None else max(0.0, last_poll + idle_s - time.monotonic())
        else:
            timeout = None if not samplers else max(0.0, min(s.due for s in samplers) - time.monotonic())
        ended, polled, changed = wakeup.wait(timeout)
        if ended:
            return
        snap = snapshot_fn()
        if poll:
            if not polled and idle_s is not None and time.monotonic() - last_poll >= idle_s:
                raise IdleTimeout()
            if polled:
                last_poll = time.monotonic()
                current: Leaves = {}
                for stream in streams:
                    current.update(stream.select(snap, catalogue))
                yield from notifications(current, [], request.encoding, timestamp_ns(snap))
                yield SYNC
            continue
        now = time.monotonic()
        if len(streams) == 1 and streams[0].sampled and not streams[0].suppress_redundant:
            stream = streams[0]  # the usual SAMPLE RPC: its responses shared with every other on that path
            if now >= stream.due:
                stream.due = now + stream.interval_s
                yield from snap.derived(("gnmi-sample", id(catalogue), stream.pattern, request.encoding), lambda: list(
                    notifications(stream.select(snap, catalogue), [], request.encoding, timestamp_ns(snap))))
            continue
        updates: Leaves = {}
        deleted: List[PathKey] = []
        for stream in streams:
            if not (now >= stream.due if stream.sampled else changed):
                continue
            stream.due = now + stream.interval_s
            current = stream.select(snap, catalogue)
            if stream.sampled and not stream.suppress_redundant:
                updates.update(current)
            else:
                updates.update({p: leaf for p, leaf in current.items() if stream.sent.get(p, _UNSENT) != leaf})
                deleted += [p for p in stream.sent if p not in current]
            stream.sent = current
        yield from notifications(updates, deleted, request.encoding, timestamp_ns(snap))
