"""Exporters over the agent's real pipeline: a generated switch in a real redis, the SONiC
model following it, Debian's Prometheus scraping and pygnmi subscribing.

Deleting a port from CONFIG_DB makes its Prometheus series go stale and takes it out of
every encoder although COUNTERS_DB keeps its counters; a STATE_DB change reaches a gNMI
ON_CHANGE subscriber within 1 s.
"""
from __future__ import annotations

import time

import pytest

from sonic_agent.config import GnmiConfig, OtlpConfig
from sonic_agent.export.gnmi_paths import snapshot_leaves
from sonic_agent.export.otlp_encode import MetricsEncoder
from sonic_agent.catalogue import CATALOGUE
from sonic_agent.export.prometheus_encode import snapshot_text
from sonic_agent.pipeline import Pipeline
from tests.export.gnmi_client import next_result, start
from tests.export.prometheus_peer import PrometheusServer, free_port
from tests.conftest import wait_until
from tests.sonic.generated import generate_switch, generated_agent

COUNTERS_DB, CONFIG_DB, STATE_DB = 2, 4, 6


@pytest.fixture
def pipeline(redis_server):
    cfg = generated_agent(redis_server, generate_switch(ports=8, portchannels=1, vlans=2))
    cfg.export.gnmi = GnmiConfig(enabled=True, listen="127.0.0.1:0")
    cfg.export.otlp = OtlpConfig(enabled=True, endpoint=f"http://127.0.0.1:{free_port()}", interval_s=3600)
    pipe = Pipeline(cfg)
    pipe.start()
    yield pipe
    pipe.stop()


def exporter(pipe, kind):
    return next(e for e in pipe.exporters if type(e).__name__ == kind)


def test_prometheus_sees_model_labels_and_a_deleted_port_goes_stale(pipeline, redis_server, tmp_path):
    prom = PrometheusServer(tmp_path, f"127.0.0.1:{exporter(pipeline, 'PrometheusExporter').port}").start()
    try:
        prom.wait(lambda: [t for t in prom.targets() if t["health"] == "up"], 20, "scraping the agent")
        series = prom.wait(lambda: prom.query('sonic_port_bytes_total{direction="rx"}'), 10, "returning series")
        labels = {s["metric"]["port"]: s["metric"] for s in series}
        assert labels["Ethernet12"]["alias"] == "etp4"
        assert {s["value"][1] for s in series if s["metric"]["port"] == "Ethernet12"} == {"3000"}
        assert prom.query('sonic_port_info{port="Ethernet12",description="peer3:eth0"}')
        queue = prom.query('sonic_queue_packets_total{port="Ethernet12",alias="etp4",queue="2",type="multicast"}')
        assert queue and queue[0]["value"][1] == str(10 * (3 * 3 + 2))  # generated: 10 x the queue's ordinal
        assert prom.query('sonic_vlan_member_info{port="Ethernet12",vlan="Vlan101",tagging_mode="untagged"}')

        redis_server.client(CONFIG_DB).delete("PORT|Ethernet12")
        prom.wait(lambda: not prom.query('sonic_port_info{port="Ethernet12"}'), 10, "marking Ethernet12 stale")
        assert prom.query('sonic_port_info{port="Ethernet8"}')
        assert not prom.query('{port="Ethernet12"}')  # counters, queues, VLAN membership
    finally:
        prom.stop()


def test_every_exporter_reports_into_the_agent_counters(pipeline):
    otlp = exporter(pipeline, "OtlpExporter")
    otlp.export_once()  # the collector is absent: retried, then counted when dropped
    agent = pipeline.snapshot().agent
    assert agent["gnmi_subscriptions"] == 0 and agent["redis_connected"] == 1
    assert set(otlp.agent_counters()) <= set(agent) and "otlp_retries_total" in agent
    text = snapshot_text(pipeline.snapshot(), CATALOGUE, openmetrics=False, max_series=100_000)[0]
    assert "telegen_agent_otlp_dropped_points_total " in text and "telegen_agent_gnmi_subscriptions 0" in text


def test_a_deleted_port_leaves_every_encoder_though_counters_db_keeps_it(pipeline, redis_server):
    def encoded(snap):
        prometheus = snapshot_text(snap, CATALOGUE, openmetrics=True, max_series=100_000)[0]
        otlp = MetricsEncoder("cumulative", 0).encode(snap)[0].SerializeToString().decode("utf-8", "replace")
        return prometheus, otlp, repr(list(snapshot_leaves(snap)))

    assert all('Ethernet12' in text for text in encoded(pipeline.snapshot()))
    redis_server.client(CONFIG_DB).delete("PORT|Ethernet12")
    assert wait_until(lambda: "Ethernet12" not in {p.name for p in pipeline.snapshot().ports}, 1.0)  # re-labelled
    assert redis_server.client(COUNTERS_DB).hget("COUNTERS_PORT_NAME_MAP", "Ethernet12")
    for text in encoded(pipeline.snapshot()):
        assert "Ethernet8" in text and "Ethernet12" not in text


def test_gnmi_on_change_follows_state_db_within_one_second(pipeline, redis_server):
    port = exporter(pipeline, "GnmiServer").port
    spec = {"port": port, "username": "", "password": "", "scenario": "watch",
            "path": "/telegen/ports/port[name=Ethernet0]/state/netdev-oper-status"}
    proc = start(spec)
    try:
        initial = next_result(proc)
        assert initial["initial"]["update"]["update"] == [
            {"path": "telegen/ports/port[name=Ethernet0]/state/netdev-oper-status", "val": "DOWN"}]
        changed_at = time.time()
        redis_server.client(STATE_DB).hset("PORT_TABLE|Ethernet0", "netdev_oper_status", "up")
        change = next_result(proc)
        assert change["change"]["update"]["update"] == [
            {"path": "telegen/ports/port[name=Ethernet0]/state/netdev-oper-status", "val": "UP"}]
        assert change["at"] - changed_at < 1.0
    finally:
        proc.kill()
        proc.wait()

