"""The /metrics exporter against Debian's Prometheus and promtool, with Snapshots built here."""
from __future__ import annotations

import gzip
import shutil
import socket
import subprocess

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sonic_agent.config import PrometheusConfig
from sonic_agent.export import prometheus
from sonic_agent.export.prometheus import PrometheusExporter
from sonic_agent.catalogue import CATALOGUE
from sonic_agent.export.prometheus_encode import SeriesBudget, families
from sonic_agent.records import Snapshot
from tests.conftest import require, wait_until
from tests.export.prometheus_peer import PrometheusServer
from tests.export.sample import CLASSES, sample_snapshot


class LiveSnapshot:
    """Stands for the pipeline: each call returns whatever the 'model' holds now."""

    def __init__(self, snap):
        self.snap = snap

    def __call__(self):
        return self.snap


@pytest.fixture
def exporter():
    live = LiveSnapshot(sample_snapshot(ports=4, flows=3))
    ex = PrometheusExporter(PrometheusConfig(listen="127.0.0.1:0"), live).start()
    ex.live = live
    yield ex
    ex.stop()


def scrape(ex, accept="text/plain", encoding="identity"):
    resp = requests.get(f"http://127.0.0.1:{ex.port}/metrics", timeout=5,
                        headers={"Accept": accept, "Accept-Encoding": encoding})
    assert resp.status_code == 200
    return resp


def test_promtool_check_metrics_is_clean(exporter):
    require(shutil.which("promtool") is not None, "needs promtool (apt-get install prometheus)")
    text = scrape(exporter).text
    assert 'sonic_port_bytes_total{port="Ethernet0",alias="fortyGigE0/0",namespace="",direction="rx"}' in text
    for family in ("telegen_probe_packet_size_bytes_bucket", "telegen_probe_talker_packets_total",
                   "telegen_kernel_drops_total"):
        assert f"\n{family}{{" in text
    result = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_openmetrics_when_asked_and_parses(exporter):
    resp = scrape(exporter, accept="application/openmetrics-text;version=1.0.0,text/plain;q=0.5", encoding="gzip")
    assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
    assert resp.text.endswith("# EOF\n")
    families = {f.name: f for f in text_string_to_metric_families(resp.text)}
    probe = families["telegen_probe_packets"]
    assert probe.type == "counter"
    sample = next(s for s in probe.samples if s.labels["class"] == "bgp" and s.labels["port"] == "Ethernet4")
    assert sample.labels["alias"] == "fortyGigE0/4" and sample.labels["direction"] == "rx"
    assert sample.value == 1000 + CLASSES.index("bgp")
    assert {s.labels["src_address"] for s in families["telegen_flow_bytes"].samples} == {"10.1.0.1", "10.1.0.2", "10.1.0.3"}
    first = {name: next(s.value for s in families[name].samples if s.labels["src_address"] == "10.1.0.1")
             for name in ("telegen_flow_packets", "telegen_flow_estimated_packets", "telegen_flow_bytes",
                          "telegen_flow_estimated_bytes")}
    assert first == {"telegen_flow_packets": 100, "telegen_flow_estimated_packets": 100 * 100,  # sample_rate 100
                     "telegen_flow_bytes": 64000, "telegen_flow_estimated_bytes": 64000 * 100}
    assert families["telegen_flow_estimated_packets"].type == "counter"
    assert families["sonic_port_oper_up"].samples[0].value == 1


def test_lag_vlan_and_queue_families(exporter):
    text = scrape(exporter, accept="application/openmetrics-text;version=1.0.0").text
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def values(name, *keys):
        return {tuple(s.labels[k] for k in keys): s.value for s in families[name].samples}

    assert values("sonic_lag_members", "port") == {("PortChannel0001",): 2}
    assert values("sonic_lag_member_enabled", "port", "alias", "lag") == {
        ("Ethernet0", "fortyGigE0/0", "PortChannel0001"): 1, ("Ethernet4", "fortyGigE0/4", "PortChannel0001"): 0}
    assert values("sonic_vlan_members", "port") == {("Vlan1000",): 2}
    assert values("sonic_vlan_member_info", "port", "vlan", "tagging_mode") == {
        ("Ethernet8", "Vlan1000", "untagged"): 1, ("PortChannel0001", "Vlan1000", "tagged"): 1}
    assert values("sonic_port_oper_up", "port")[("PortChannel0001",)] == 1

    assert families["sonic_queue_packets"].type == "counter"
    assert families["sonic_queue_shared_watermark_bytes"].type == "gauge"
    packets = values("sonic_queue_packets", "port", "alias", "queue", "type")
    assert len(packets) == 4 * 2
    assert packets[("Ethernet4", "fortyGigE0/4", "1", "multicast")] == 1000 + 10
    assert values("sonic_queue_dropped_bytes", "port", "queue")[("Ethernet0", "0")] == 1000 + 3


def test_probe_sizes_talkers_and_kernel_drops(exporter):
    text = scrape(exporter, accept="application/openmetrics-text;version=1.0.0").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    sizes = families["telegen_probe_packet_size_bytes"]
    assert sizes.type == "histogram"
    ethernet4_rx = {(s.name, s.labels.get("le")): s.value for s in sizes.samples
                    if s.labels["port"] == "Ethernet4" and s.labels["direction"] == "rx"}
    assert ethernet4_rx[("telegen_probe_packet_size_bytes_bucket", "1.0")] == 0  # bucket b holds b frames
    assert ethernet4_rx[("telegen_probe_packet_size_bytes_bucket", "3.0")] == 1
    assert ethernet4_rx[("telegen_probe_packet_size_bytes_bucket", "2047.0")] == sum(range(11))
    assert ethernet4_rx[("telegen_probe_packet_size_bytes_bucket", "+Inf")] == sum(range(16))
    assert ethernet4_rx[("telegen_probe_packet_size_bytes_count", None)] == sum(range(16))
    assert ethernet4_rx[("telegen_probe_packet_size_bytes_sum", None)] == sum(64 * (1000 + k)
                                                                              for k in range(len(CLASSES)))
    assert len(ethernet4_rx) == 16 + 2
    assert {s.labels["alias"] for s in sizes.samples if s.labels["port"] == "Ethernet4"} == {"fortyGigE0/4"}

    talkers = {(s.labels["port"], s.labels["source"], s.labels["protocol"], s.labels["class"]): s.value
               for s in families["telegen_probe_talker_packets"].samples}
    assert families["telegen_probe_talker_packets"].type == "counter"
    assert talkers[("Ethernet4", "10.0.1.1", "tcp", "bgp")] == 1600
    assert talkers[("Ethernet4", "52:54:00:00:00:01", "0", "lldp")] == 32
    assert len(talkers) == 4 * 2
    drops = families["telegen_kernel_drops"]
    assert drops.type == "counter"
    assert {(s.labels["port"], s.labels["alias"], s.labels["reason"]): s.value for s in drops.samples} == {
        (f"Ethernet{4 * i}", f"fortyGigE0/{4 * i}", "no_socket"): 7 + i for i in range(4)}
    assert {s.value for s in families["telegen_kernel_drop_bytes"].samples} == {7 * 80}


def test_a_histogram_is_cut_whole():
    snap = sample_snapshot(ports=1, flows=0)
    snap = Snapshot(timestamp=snap.timestamp, ports=snap.ports, probe_counts=snap.probe_counts,
                    probe_sizes=snap.probe_sizes)
    # device and port state (1 + 6), the probe counters, one histogram (16 buckets, count, sum) and 3 more
    budget = SeriesBudget(7 + 2 * len(CLASSES) * 2 + 18 + 3)
    fams = {f.name: f for f in families(CATALOGUE, snap, budget, snap)}
    histogram = fams["telegen_probe_packet_size_bytes"].lines
    assert {'direction="rx"' in line for line in histogram} == {True} and len(histogram) == 18
    assert budget.cut == 18 and budget.left == 3  # tx's whole histogram, not 3 of its buckets


def test_gzip_when_asked(exporter):
    raw = requests.get(f"http://127.0.0.1:{exporter.port}/metrics", headers={"Accept-Encoding": "gzip"},
                       stream=True, timeout=5).raw.read()
    assert gzip.decompress(raw).startswith(b"# HELP sonic_device_info")


def test_series_cap_cuts_and_counts(exporter):
    capped = PrometheusExporter(PrometheusConfig(listen="127.0.0.1:0", max_series=10), exporter.live).start()
    try:
        text = scrape(capped).text
        text = scrape(capped).text
    finally:
        capped.stop()
    samples = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(samples) == 10 + 2  # the cap plus the exporter's own two counters
    total = len([line for line in scrape(exporter).text.splitlines() if not line.startswith("#")]) - 2
    assert f"telegen_prometheus_series_cut_total {2 * (total - 10)}" in text


def test_broken_snapshot_is_counted_not_fatal(exporter):
    exporter.collector._snapshot_fn = lambda: 1 / 0
    assert "telegen_prometheus_snapshot_failures_total 1" in scrape(exporter).text


def test_prometheus_scrapes_per_port_series_and_a_removed_port_goes_stale(exporter, tmp_path):
    prom = PrometheusServer(tmp_path, f"127.0.0.1:{exporter.port}").start()
    try:
        prom.wait(lambda: [t for t in prom.targets() if t["health"] == "up"], 20, "scraping the target")
        series = prom.wait(lambda: prom.query('sonic_port_bytes_total{direction="rx"}'), 10, "returning series")
        by_port = {s["metric"]["port"]: s["metric"] for s in series}
        assert set(by_port) == {"Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"}
        assert by_port["Ethernet4"]["alias"] == "fortyGigE0/4"
        probe = prom.query('telegen_probe_packets_total{port="Ethernet8",direction="tx",class="lldp"}')
        assert probe and probe[0]["value"][1] == str(1000 + CLASSES.index("lldp"))
        # Prometheus reads the size buckets as a histogram: the median of 120 frames (b in bucket b)
        # lies in the 6th frame of the 11 in bucket (2047, 4095], interpolated linearly.
        median = prom.query('histogram_quantile(0.5, telegen_probe_packet_size_bytes_bucket{port="Ethernet8",'
                            'direction="rx"})')
        assert median and float(median[0]["value"][1]) == pytest.approx(2047 + (4095 - 2047) * 5 / 11)

        exporter.live.snap = sample_snapshot(ports=4, flows=3, drop_port="Ethernet4")
        prom.wait(lambda: not prom.query('sonic_port_bytes_total{port="Ethernet4"}'), 10, "marking Ethernet4 stale")
        assert not prom.query('telegen_probe_packets_total{port="Ethernet4"}')
        assert {s["metric"]["port"] for s in prom.query('sonic_port_bytes_total{direction="rx"}')} == {
            "Ethernet0", "Ethernet8", "Ethernet12"}
    finally:
        prom.stop()


def test_idle_connections_give_way_to_a_scrape(exporter):
    # Connections that send nothing hold every slot, each from its own loopback address (so the
    # per-client bound is not what acts): a scrape still gets 200, the oldest idle one a 408.
    limit = prometheus.LIMITS.max_connections
    idle = [socket.create_connection(("127.0.0.1", exporter.port), timeout=5, source_address=(f"127.0.1.{i + 1}", 0))
            for i in range(limit)]
    try:
        assert wait_until(lambda: exporter.agent_counters()["prometheus_http_connections"] == limit, 5)
        assert scrape(exporter).status_code == 200
        assert idle[0].recv(100).startswith(b"HTTP/1.0 408")
    finally:
        for sock in idle:
            sock.close()
    counters = exporter.agent_counters()
    assert (counters["prometheus_http_evicted_total"], counters["prometheus_http_refused_busy_total"]) == (1, 0)
