"""The three pure encoders agree on what a Snapshot holds: a port the model dropped is gone."""
from __future__ import annotations

import dataclasses
import time

from sonic_agent.export.gnmi_paths import snapshot_leaves
from sonic_agent.export.otlp_encode import MetricsEncoder
from sonic_agent.export.prometheus_exposition import render
from sonic_agent.export.prometheus_families import SeriesBudget, snapshot_families
from tests.export.sample import sample_snapshot


def without_port_keeping_its_counters(name):
    """What the model gives after CONFIG_DB deletes a port: COUNTERS_DB still has its counters."""
    snap = sample_snapshot(ports=3)
    return dataclasses.replace(snap, ports=[p for p in snap.ports if p.name != name])


def test_counters_of_a_dropped_port_leave_every_encoder():
    snap = without_port_keeping_its_counters("Ethernet4")
    assert any(c.port == "Ethernet4" for c in snap.port_counters)

    text = render(snapshot_families(snap, SeriesBudget(10_000)), openmetrics=False).decode()
    assert 'sonic_port_bytes_total{port="Ethernet0"' in text
    assert not [line for line in text.splitlines() if line.startswith("sonic_port") and 'port="Ethernet4"' in line]

    request, _ = MetricsEncoder("cumulative", time.time()).encode(snap)
    io = next(m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == "hw.network.io")
    names = {kv.value.string_value for p in io.sum.data_points for kv in p.attributes
             if kv.key == "network.interface.name"}
    assert names == {"Ethernet0", "Ethernet8"}

    ports = {dict(keys).get("name") for path in snapshot_leaves(snap) for name, keys in path
             if name in ("interface", "port")}
    assert ports == {"Ethernet0", "Ethernet8"}
