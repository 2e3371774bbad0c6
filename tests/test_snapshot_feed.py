"""The feed's heartbeat: a burst of model changes is one re-label, and it shows the last state."""
from __future__ import annotations

import dataclasses
import time

from sonic_agent.records import Snapshot
from sonic_agent.snapshots import RELABEL_COALESCE_S, SnapshotFeed
from tests.conftest import wait_until


def test_a_burst_of_model_changes_is_one_relabel():
    state = {"hostname": "before"}
    relabels = []

    def read(seq):
        return Snapshot(timestamp=time.time(), seq=seq)

    def relabel(previous, seq):
        relabels.append(state["hostname"])
        return dataclasses.replace(previous, seq=seq)

    feed = SnapshotFeed(read, relabel, tick_s=3600)  # no tick during the test: only re-labels publish
    feed.start()
    try:
        started = time.monotonic()
        for i in range(500):  # a config reload: hundreds of keyspace events in a few milliseconds
            state["hostname"] = f"h{i}"
            feed.model_changed()
        windows = (time.monotonic() - started) / RELABEL_COALESCE_S
        assert wait_until(lambda: relabels and relabels[-1] == "h499", 5)
        assert len(relabels) <= windows + 2, (len(relabels), windows)  # one re-label per window at most
        assert feed.counters()["snapshot_model_refreshes_total"] == len(relabels)
    finally:
        feed.stop()
