"""One source failing costs that source's readings only: the tick still reads the others."""
from __future__ import annotations

from sonic_agent.pipeline import Pipeline
from tests.conftest import wait_until
from tests.sonic.generated import generate_switch, generated_agent


class BrokenHost:
    """A host reader that fails the way a bug or a vanished /proc file would (fault injection)."""

    def read(self):
        raise OSError("/proc/stat: No such file or directory")


def test_a_failing_source_leaves_the_others_in_the_tick(redis_server):
    cfg = generated_agent(redis_server, generate_switch(ports=4, portchannels=0, vlans=0), 0.1)
    pipe = Pipeline(cfg)
    pipe.host = BrokenHost()
    pipe.start()
    try:
        assert wait_until(lambda: pipe.snapshot().agent.get("source_read_errors_total", 0) >= 2, 10)
        snap = pipe.snapshot()
        assert len(snap.port_counters) == 4 and snap.families.get("table_health") is not None
        assert snap.agent["snapshot_failures_total"] == 0 and not snap.families.get("host_cpu")
    finally:
        pipe.stop()
