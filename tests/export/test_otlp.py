"""OTLP export against real receivers (opentelemetry-proto gRPC servicers, an OTLP/HTTP handler)."""
from __future__ import annotations

import dataclasses
import time

import pytest

from sonic_agent.config import OtlpConfig, TlsConfig
from sonic_agent.errors import UserError
from sonic_agent.export.otlp import MAX_AGE_INTERVALS, OtlpExporter
from sonic_agent.export.otlp_encode import LOGS_PER_REQUEST, DeltaState, MetricsEncoder, encode_flows
from sonic_agent.export.otlp_transport import expand_headers
from tests.conftest import wait_until
from tests.export.certs import make_certs
from tests.export.otlp_peer import GrpcReceiver, HttpReceiver
from tests.export.sample import CLASSES, flow, sample_snapshot


def attrs(kvs) -> dict:
    return {kv.key: getattr(kv.value, kv.value.WhichOneof("value")) for kv in kvs}


def points(request, name):
    metric = next(m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == name)
    data = metric.sum if metric.HasField("sum") else metric.gauge
    return metric, [(attrs(p.attributes), p.as_int if p.HasField("as_int") else p.as_double) for p in data.data_points]


def check_metrics_and_flows(receiver, header_value):
    kind, metrics, headers = receiver.wait_for("metrics")[0]
    assert headers["x-tenant-id"] == header_value
    assert attrs(metrics.resource_metrics[0].resource.attributes) == {
        "service.name": "telegen-sonic", "host.name": "sw1", "sonic.hwsku": "Force10-S6000",
        "sonic.platform": "x86_64-kvm_x86_64-r0", "os.name": "SONiC", "os.version": "SONiC.202405"}
    metric, io = points(metrics, "hw.network.io")
    assert metric.unit == "By" and metric.sum.is_monotonic
    assert ({"network.interface.name": "Ethernet4", "sonic.port.alias": "fortyGigE0/4",
             "network.io.direction": "receive"}, 1100) in io
    _, probes = points(metrics, "telegen.probe.packets")
    assert ({"network.interface.name": "Ethernet0", "sonic.port.alias": "fortyGigE0/0",
             "network.io.direction": "transmit", "telegen.probe.class": "lldp"}, 1000 + CLASSES.index("lldp")) in probes
    _, logs, _ = receiver.wait_for("logs")[0]
    records = logs.resource_logs[0].scope_logs[0].log_records
    assert len(records) == 3 and {r.event_name for r in records} == {"network.flow"}
    first = attrs(records[0].attributes)
    assert first["source.address"] == "10.1.0.1" and first["destination.address"] == "10.2.0.1"
    assert first["network.transport"] == "udp" and first["source.port"] == 1024 and first["destination.port"] == 443
    assert first["telegen.flow.packets"] == 100 and first["telegen.mirror.session"] == "everflow0"
    assert (first["telegen.flow.sample_rate"], first["telegen.flow.estimated_packets"],
            first["telegen.flow.bytes"], first["telegen.flow.estimated_bytes"]) == (100, 10_000, 64000, 6_400_000)
    assert records[0].time_unix_nano == 1_700_000_010 * 10 ** 9


@pytest.fixture
def certs(tmp_path):
    return make_certs(tmp_path)


def run_exporter(cfg, snapshot=None):
    snap = snapshot or sample_snapshot(ports=4, flows=3)
    return OtlpExporter(cfg, lambda: snap).start()


def test_grpc_mtls_gzip_env_headers(certs, monkeypatch):
    monkeypatch.setenv("TENANT_ID", "tenant-42")
    receiver = GrpcReceiver(certs=certs).start()
    exporter = run_exporter(OtlpConfig(
        enabled=True, endpoint=f"https://localhost:{receiver.port}", headers={"X-Tenant-Id": "${TENANT_ID}"},
        interval_s=0.2, tls=TlsConfig(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)))
    try:
        check_metrics_and_flows(receiver, "tenant-42")
        assert exporter.agent_counters()["otlp_dropped_points_total"] == 0
    finally:
        exporter.stop()
        receiver.stop()


def test_grpc_requests_really_are_gzip():
    """A receiver that accepts only identity encoding refuses them; the same without gzip passes."""
    receiver = GrpcReceiver(gzip_allowed=False).start()
    try:
        for compression, expect_sent in (("gzip", False), ("none", True)):
            exporter = run_exporter(OtlpConfig(endpoint=f"http://127.0.0.1:{receiver.port}", interval_s=0.1,
                                               compression=compression))
            wait_until(lambda: exporter.agent_counters()["otlp_dropped_points_total"] or
                       exporter.agent_counters()["otlp_exported_points_total"], 5)
            exporter.stop()
            stats = exporter.agent_counters()
            assert bool(stats["otlp_exported_points_total"]) is expect_sent, (compression, stats)
            assert bool(stats["otlp_dropped_points_total"]) is not expect_sent, (compression, stats)
        assert receiver.received
    finally:
        receiver.stop()


@pytest.mark.parametrize("protocol, endpoint", [("grpc", "https://localhost:4317"), ("http", "https://localhost:4318")])
def test_bad_tls_files_are_one_line_naming_the_setting(certs, tmp_path, protocol, endpoint):
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"\x00\x01 not PEM")
    cases = [(TlsConfig(ca=str(garbage)), r"export\.otlp\.tls\.ca: .* holds no PEM certificate"),
             (TlsConfig(ca=str(tmp_path / "absent")), r"export\.otlp\.tls\.ca: cannot read"),
             (TlsConfig(cert=certs.client_cert, key=certs.server_key), r"export\.otlp\.tls\.key: .* does not match"),
             (TlsConfig(cert=certs.client_cert, key=str(garbage)), r"export\.otlp\.tls\.key: .* is not a PEM private"),
             (TlsConfig(cert=certs.client_cert), r"export\.otlp\.tls: cert and key go together")]
    for tls, message in cases:
        with pytest.raises(UserError, match="^" + message):
            OtlpExporter(OtlpConfig(enabled=True, protocol=protocol, endpoint=endpoint, tls=tls), sample_snapshot)


def test_http_tls_gzip_env_headers(certs, monkeypatch):
    monkeypatch.setenv("TENANT_ID", "tenant-7")
    receiver = HttpReceiver(certs=certs).start()
    exporter = run_exporter(OtlpConfig(
        enabled=True, protocol="http", endpoint=f"https://localhost:{receiver.port}",
        headers={"x-tenant-id": "${TENANT_ID}"}, interval_s=0.2,
        tls=TlsConfig(ca=certs.ca, cert=certs.client_cert, key=certs.client_key)))
    try:
        check_metrics_and_flows(receiver, "tenant-7")
        headers = receiver.wait_for("logs")[0][2]
        assert headers["content-encoding"] == "gzip" and headers["content-type"] == "application/x-protobuf"
    finally:
        exporter.stop()
        receiver.stop()


def test_outage_keeps_agent_up_queue_bounded_drops_counted_and_resumes():
    receiver = GrpcReceiver().start()
    port = receiver.port
    snap = sample_snapshot(ports=4, flows=3)
    cfg = OtlpConfig(endpoint=f"http://127.0.0.1:{port}", interval_s=0.05, queue_size=4, max_backoff_s=0.3,
                     timeout_s=1)
    exporter = OtlpExporter(cfg, lambda: dataclasses.replace(snap, timestamp=time.time())).start()
    try:
        receiver.wait_for("metrics")
        receiver.stop()

        def outage_seen():  # requests dropped from the full queue, retried, and expired
            stats = exporter.agent_counters()
            return all(stats[k] > 0 for k in ("otlp_dropped_points_total", "otlp_dropped_logs_total",
                                               "otlp_retries_total", "otlp_expired_requests_total"))

        assert wait_until(outage_seen, 10) is not None, exporter.agent_counters()
        stats = exporter.agent_counters()
        assert stats["otlp_queue_length"] <= 4
        assert stats["otlp_dropped_points_total"] > 0 and stats["otlp_dropped_logs_total"] > 0
        assert stats["otlp_retries_total"] > 0
        assert stats["otlp_expired_requests_total"] > 0  # no request is retried for the whole outage
        assert all(t.is_alive() for t in exporter._threads)
        restarted = GrpcReceiver(port=port).start()
        back = time.time()
        try:
            first = restarted.wait_for("metrics", count=3, timeout=10)[0][1]
            restarted.wait_for("logs", timeout=5)
        finally:
            restarted.stop()
        # Fresh data first: what arrives first was encoded at most MAX_AGE_INTERVALS before the
        # receiver came back (plus one backoff sleep), not at the start of the outage.
        encoded = first.resource_metrics[0].scope_metrics[0].metrics[0].sum.data_points[0].time_unix_nano / 1e9
        assert back - encoded < MAX_AGE_INTERVALS * cfg.interval_s + cfg.max_backoff_s + 0.5, back - encoded
    finally:
        exporter.stop()


def test_stop_interrupts_backoff():
    exporter = run_exporter(OtlpConfig(endpoint="http://127.0.0.1:9", interval_s=0.05, max_backoff_s=60))
    assert wait_until(lambda: exporter.agent_counters()["otlp_retries_total"] > 0, 10) is not None  # backing off
    started = time.monotonic()
    exporter.stop()
    assert time.monotonic() - started < 2.0
    assert not any(t.is_alive() for t in exporter._threads)


def test_lag_vlan_and_queue_metrics():
    request, _ = MetricsEncoder("cumulative", time.time()).encode(sample_snapshot(ports=4, flows=0))
    _, lags = points(request, "sonic.lag.members")
    assert lags == [({"network.interface.name": "PortChannel0001"}, 2)]
    _, enabled = points(request, "sonic.lag.member.enabled")
    assert sorted((a["network.interface.name"], a["sonic.lag.name"], v) for a, v in enabled) == [
        ("Ethernet0", "PortChannel0001", 1), ("Ethernet4", "PortChannel0001", 0)]
    _, vlan = points(request, "sonic.vlan.member")
    assert sorted((a["network.interface.name"], a["sonic.vlan.tagging_mode"]) for a, _ in vlan) == [
        ("Ethernet8", "untagged"), ("PortChannel0001", "tagged")]
    metric, queued = points(request, "sonic.queue.io")
    assert metric.unit == "By" and metric.sum.is_monotonic and len(queued) == 4 * 2
    assert ({"network.interface.name": "Ethernet4", "sonic.port.alias": "fortyGigE0/4",
             "network.io.direction": "transmit", "sonic.queue.index": 1, "sonic.queue.type": "multicast"},
            1000 + 10 + 1) in queued
    metric, watermark = points(request, "sonic.queue.shared_watermark")
    assert metric.HasField("gauge") and len(watermark) == 8


def test_delta_temporality_sends_increases():
    encoder = MetricsEncoder("delta", time.time())
    first, _ = encoder.encode(sample_snapshot(ports=2, counter_base=1000))
    assert not [m for m in first.resource_metrics[0].scope_metrics[0].metrics if m.name == "hw.network.io"]
    second, _ = encoder.encode(sample_snapshot(ports=2, counter_base=1500))
    metric, io = points(second, "hw.network.io")
    assert metric.sum.aggregation_temporality == 1  # DELTA
    assert {value for _, value in io} == {500}
    metric, up = points(second, "hw.network.up")
    assert not metric.sum.is_monotonic and metric.sum.aggregation_temporality == 2  # stays cumulative
    third, _ = encoder.encode(sample_snapshot(ports=2, counter_base=10))  # counters reset
    assert {value for _, value in points(third, "hw.network.io")[1]} == {10, 110, 11, 111}


def histograms(request, name):
    metric = next(m for m in request.resource_metrics[0].scope_metrics[0].metrics if m.name == name)
    return metric, {attrs(p.attributes)["network.interface.name"] + "/" + attrs(p.attributes)["network.io.direction"]: p
                    for p in metric.histogram.data_points}


def test_probe_sizes_talkers_and_kernel_drops_reach_a_receiver():
    receiver = GrpcReceiver().start()
    exporter = run_exporter(OtlpConfig(endpoint=f"http://127.0.0.1:{receiver.port}", interval_s=0.2))
    try:
        _, request, _ = receiver.wait_for("metrics")[0]
    finally:
        exporter.stop()
        receiver.stop()
    metric, sizes = histograms(request, "telegen.probe.packet.size")
    assert metric.unit == "By" and metric.histogram.aggregation_temporality == 2  # CUMULATIVE
    assert set(sizes) == {f"Ethernet{4 * i}/{d}" for i in range(4) for d in ("receive", "transmit")}
    point = sizes["Ethernet4/receive"]
    assert list(point.explicit_bounds) == [(1 << (b + 1)) - 1 for b in range(15)]  # 1, 3, 7, ... 32767
    assert list(point.bucket_counts) == list(range(16)) and point.count == sum(range(16))
    assert point.sum == sum(64 * (1000 + k) for k in range(len(CLASSES)))
    assert attrs(point.attributes)["sonic.port.alias"] == "fortyGigE0/4"

    metric, talkers = points(request, "telegen.probe.talker.packets")
    assert metric.unit == "{packet}" and metric.sum.is_monotonic and len(talkers) == 4 * 2
    assert ({"network.interface.name": "Ethernet4", "sonic.port.alias": "fortyGigE0/4", "network.io.direction":
             "receive", "source.address": "10.0.1.1", "network.transport": "tcp", "telegen.probe.class": "bgp"},
            1600) in talkers
    assert {v for _, v in points(request, "telegen.probe.talker.io")[1]} == {102400, 8192}
    _, drops = points(request, "telegen.kernel.dropped")
    assert sorted((a["network.interface.name"], a["error.type"], v) for a, v in drops) == [
        ("Ethernet0", "no_socket", 7), ("Ethernet12", "no_socket", 10), ("Ethernet4", "no_socket", 8),
        ("Ethernet8", "no_socket", 9)]
    assert {v for _, v in points(request, "telegen.kernel.dropped.io")[1]} == {7 * 80}


def test_delta_histograms_send_bucket_increases():
    encoder = MetricsEncoder("delta", time.time())
    snap = sample_snapshot(ports=1, flows=0)
    first, _ = encoder.encode(snap)
    assert not [m for m in first.resource_metrics[0].scope_metrics[0].metrics if m.name == "telegen.probe.packet.size"]
    grown = [dataclasses.replace(h, counts=tuple(n + (3 if low == 64 else 0) for low, n in zip(h.lows, h.counts)),
                                 sum=h.sum + 300) for h in snap.probe_sizes]  # three 100-byte BGP frames more
    second, _ = encoder.encode(dataclasses.replace(snap, probe_sizes=grown))
    metric, sizes = histograms(second, "telegen.probe.packet.size")
    assert metric.histogram.aggregation_temporality == 1  # DELTA
    assert list(sizes["Ethernet0/receive"].bucket_counts) == [0] * 6 + [3] + [0] * 9  # [64, 127]: 3 more
    assert sizes["Ethernet0/receive"].count == 3 and sizes["Ethernet0/receive"].sum == 300


def test_delta_state_is_bounded():
    state = DeltaState(max_series=3)
    for i in range(10):
        state.delta(("m", i), 1.0, 0)
    assert len(state._last) == 3
    assert state.delta(("m", 9), 5.0, 1) == (4.0, 0)


def test_flows_split_into_bounded_requests():
    snap = sample_snapshot(ports=1)
    requests = list(encode_flows(snap, [flow(i) for i in range(LOGS_PER_REQUEST * 2 + 5)]))
    assert [len(r.resource_logs[0].scope_logs[0].log_records) for r in requests] == [LOGS_PER_REQUEST] * 2 + [5]


def test_http_endpoint_must_be_a_url():
    with pytest.raises(UserError, match="http:// or https://"):
        OtlpExporter(OtlpConfig(protocol="http", endpoint="127.0.0.1:4318"), sample_snapshot)


def test_header_expansion():
    assert expand_headers({"a": "x-${A}-${B}", "c": "plain"}, {"A": "1", "B": "2"}) == {"a": "x-1-2", "c": "plain"}
    with pytest.raises(UserError, match="MISSING"):
        expand_headers({"a": "${MISSING}"}, {})
