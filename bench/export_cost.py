"""Benchmark export: /metrics scrape time and OTLP encode time of flow records.

Serves /metrics from a Snapshot of 64 ports x the probes' 21 classes x 2 directions, all
COUNTERS_DB port counters, 20 egress queues per port (10 unicast, 10 multicast, five counters
each, as a Broadcom switch has), a PortChannel, a VLAN and the top-100 flows, and times full HTTP scrapes as Prometheus makes
them (OpenMetrics, gzip); then encodes 100,000 flow records into serialized OTLP log
requests. Targets: scrape_ms < 50, otlp_100k_s < 2. Last line: `key=value ...`.
"""
from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sonic_agent.config import PrometheusConfig  # noqa: E402
from sonic_agent.export.otlp_encode import MetricsEncoder, encode_flows  # noqa: E402
from sonic_agent.export.prometheus import PrometheusExporter  # noqa: E402
from tests.export.sample import flow, sample_snapshot  # noqa: E402

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
                     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")


def time_scrapes(snapshot, scrapes: int):
    exporter = PrometheusExporter(PrometheusConfig(listen="127.0.0.1:0"), lambda: snapshot).start()
    request = urllib.request.Request(f"http://127.0.0.1:{exporter.port}/metrics",
                                     headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    try:
        samples, body = [], b""
        for _ in range(scrapes + 2):
            started = time.perf_counter()
            with urllib.request.urlopen(request) as resp:
                body = resp.read()
            samples.append(time.perf_counter() - started)
        series = sum(1 for line in gzip.decompress(body).splitlines() if not line.startswith(b"#"))
        return statistics.median(samples[2:]) * 1000, len(body), series
    finally:
        exporter.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--queues", type=int, default=20, help="egress queues per port")
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()

    snapshot = sample_snapshot(ports=args.ports, flows=100, queues=args.queues)
    scrape_ms, gzip_bytes, series = time_scrapes(snapshot, args.scrapes)
    print(f"scrape: {series} series, median {scrape_ms:.1f} ms over {args.scrapes} scrapes, {gzip_bytes} bytes gzip")

    started = time.perf_counter()
    request, points = MetricsEncoder("cumulative", time.time()).encode(snapshot)
    metrics_ms = (time.perf_counter() - started) * 1000
    print(f"otlp metrics: {points} points encoded in {metrics_ms:.1f} ms")

    flows = [flow(i) for i in range(args.flows)]
    started = time.perf_counter()
    encoded = [req.SerializeToString() for req in encode_flows(snapshot, flows)]
    otlp_s = time.perf_counter() - started
    print(f"otlp logs: {args.flows} flows -> {len(encoded)} requests, {sum(map(len, encoded))} bytes, {otlp_s:.2f} s")

    print(f"scrape_ms={scrape_ms:.1f} otlp_100k_s={otlp_s:.2f} otlp_metrics_ms={metrics_ms:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
