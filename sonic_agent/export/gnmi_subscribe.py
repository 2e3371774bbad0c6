"""One gNMI Subscribe RPC: ONCE, POLL, or STREAM with SAMPLE, ON_CHANGE and TARGET_DEFINED.

Every reply is built from a fresh Snapshot. ON_CHANGE subscriptions are re-diffed when the
model reports a change (see `gnmi.ChangeFeed`), and every `ON_CHANGE_RECHECK_S` for values
that change without an event; changed leaves go out as updates, vanished ones as deletes.
SAMPLE runs at `sample_interval` (at least `MIN_SAMPLE_S`; 0 means that minimum);
TARGET_DEFINED samples counters every `TARGET_DEFINED_SAMPLE_S` and sends the rest on change.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, List, Optional, Tuple

from pygnmi.spec.v080 import gnmi_pb2

from ..records import Snapshot
from .gnmi_paths import Leaves, PathKey, is_sampled, matches, snapshot_leaves, to_proto, typed_value

MIN_SAMPLE_S = 1.0
TARGET_DEFINED_SAMPLE_S = 10.0
ON_CHANGE_RECHECK_S = 5.0
UPDATES_PER_NOTIFICATION = 1000
SYNC = gnmi_pb2.SubscribeResponse(sync_response=True)
_UNSENT = object()


@dataclass
class Stream:
    """One effective subscription: a pattern, a leaf filter, and when it next fires."""

    pattern: tuple
    sampled: bool  # SAMPLE (True) or ON_CHANGE (False)
    interval_s: float
    keep: Callable[[PathKey], bool] = lambda path: True
    suppress_redundant: bool = False
    due: float = 0.0
    sent: Leaves = field(default_factory=dict)

    def select(self, leaves: Leaves) -> Leaves:
        return {p: v for p, v in leaves.items() if self.keep(p) and matches(self.pattern, p)}


def streams_for(subscription: gnmi_pb2.Subscription, pattern: tuple) -> List[Stream]:
    mode, interval = subscription.mode, max(subscription.sample_interval / 1e9, MIN_SAMPLE_S)
    if mode == gnmi_pb2.SAMPLE:
        return [Stream(pattern, True, interval, suppress_redundant=subscription.suppress_redundant)]
    if mode == gnmi_pb2.ON_CHANGE:
        return [Stream(pattern, False, ON_CHANGE_RECHECK_S)]
    return [Stream(pattern, True, TARGET_DEFINED_SAMPLE_S, keep=is_sampled),
            Stream(pattern, False, ON_CHANGE_RECHECK_S, keep=lambda p: not is_sampled(p))]


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
            timestamp=timestamp_ns, update=[gnmi_pb2.Update(path=to_proto(p), val=typed_value(p, v, encoding))
                                            for p, v in chunk],
            delete=[to_proto(p) for p in deleted] if start == 0 else [])
        if notification.update or notification.delete:
            yield gnmi_pb2.SubscribeResponse(update=notification)


def timestamp_ns(snap: Snapshot) -> int:
    return int(snap.timestamp * 1e9) or time.time_ns()


def run_subscription(request: gnmi_pb2.SubscriptionList, patterns: List[tuple], snapshot_fn: Callable[[], Snapshot],
                     wakeup: Wakeup) -> Iterator[gnmi_pb2.SubscribeResponse]:
    """The responses of one Subscribe RPC, ending when the mode says so or `wakeup.end()`."""
    streams = [s for sub, pattern in zip(request.subscription, patterns) for s in streams_for(sub, pattern)]
    snap = snapshot_fn()
    leaves = snapshot_leaves(snap)
    now = time.monotonic()
    initial: Leaves = {}
    for stream in streams:
        stream.sent = stream.select(leaves)
        stream.due = now + stream.interval_s
        initial.update(stream.sent)
    if not request.updates_only:
        yield from notifications(initial, [], request.encoding, timestamp_ns(snap))
    yield SYNC
    if request.mode == gnmi_pb2.SubscriptionList.ONCE:
        return
    poll = request.mode == gnmi_pb2.SubscriptionList.POLL
    while True:
        timeout = None if poll else max(0.0, min(s.due for s in streams) - time.monotonic())
        ended, polled, changed = wakeup.wait(timeout)
        if ended:
            return
        if poll:
            if polled:
                snap = snapshot_fn()
                leaves = snapshot_leaves(snap)
                selected: Leaves = {}
                for stream in streams:
                    selected.update(stream.select(leaves))
                yield from notifications(selected, [], request.encoding, timestamp_ns(snap))
                yield SYNC
            continue
        snap = snapshot_fn()
        leaves = snapshot_leaves(snap)
        now = time.monotonic()
        updates: Leaves = {}
        deleted: List[PathKey] = []
        for stream in streams:
            if not (now >= stream.due or (changed and not stream.sampled)):
                continue
            stream.due = now + stream.interval_s
            current = stream.select(leaves)
            if stream.sampled and not stream.suppress_redundant:
                updates.update(current)
            else:
                updates.update({p: v for p, v in current.items() if stream.sent.get(p, _UNSENT) != v})
                deleted += [p for p in stream.sent if p not in current]
            stream.sent = current
        yield from notifications(updates, deleted, request.encoding, timestamp_ns(snap))
