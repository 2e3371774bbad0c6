"""Benchmark export: /metrics scrape time, OTLP encode time, and the agent's cost per gNMI stream.

1. Serves /metrics from a Snapshot of 64 ports x the probes' 21 classes x 2 directions, all
   COUNTERS_DB port counters, 20 egress queues per port (10 unicast, 10 multicast, five counters
   each, as a Broadcom switch has), a PortChannel, a VLAN and the top-100 flows, and times full
   HTTP scrapes as Prometheus makes them (OpenMetrics, gzip): each of a new Snapshot (what a
   scrape after a tick costs: `scrape_ms`, target < 25) and again of the same one (cached).
2. Encodes 100,000 flow records into serialized OTLP log requests (target < 2 s).
3. Runs `telegen-sonic run` on a real redis holding a generated 64-port switch with every
   family (a transceiver per port, PSUs, fans, sensors, BGP, LLDP, CRM, priority groups, traps,
   containers, processes; tests/sonic/generated.py) and the host: times its scrapes (one per
   tick, each a new Snapshot: `agent_scrape_ms`, target < 25); then, scraped every second, opens
   N = 1, 10, 50 gNMI SAMPLE streams at 1 s over every interface counter of the 64 ports; prints the agent's CPU seconds per wall second and the redis round trips and
   commands per tick (from `INFO commandstats`), which must not grow with N (sonic-gnmi's
   published figure for polling 5,724 counters at 1 s is +1 % CPU on an Atom C2558).
With `--anonymize` every part runs through a privacy policy (Crypto-PAn on every address, the
hostname, port descriptions, BGP and LLDP names hashed; sonic_agent.privacy), as an exporter
with that policy sees it: the figures must stay those without, within noise (the addresses
come back tick after tick, so they are the cache's; `anonymize_cold_100k_s` is the one-off
cost of 100,000 flows' first anonymisation).
Last line: `key=value ...`.
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Optional

import grpc
import yaml
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sonic_agent.config import FamiliesConfig, PrivacyConfig, PrometheusConfig  # noqa: E402
from sonic_agent.export.otlp_encode import MetricsEncoder, encode_flows  # noqa: E402
from sonic_agent.export.prometheus import PrometheusExporter  # noqa: E402
from sonic_agent.privacy.policy import Policies  # noqa: E402
from sonic_agent.sonic.dbconfig import load_database_config  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402
from tests.export.sample import flow, sample_snapshot  # noqa: E402
from tests.sonic.generated import generate_platform, generate_switch, load_switch  # noqa: E402

PROMETHEUS_ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
                     "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
CLK_TCK = os.sysconf("SC_CLK_TCK")
HASHED = ["device.hostname", "port.description", "bgp.name", "lldp.system_name"]


def privacy_section(workdir: Path) -> dict:
    """The `privacy` config of --anonymize, with a fresh key file."""
    key = workdir / "privacy.key"
    key.write_bytes(os.urandom(32))
    key.chmod(0o600)
    return {"key_file": str(key), "anonymize": True, "hash": HASHED}


def no_policy(snapshot):
    return snapshot


def time_scrapes(snapshot, scrapes: int, fresh: bool, view=no_policy):
    """Median ms per scrape; `fresh`: a new Snapshot (nothing encoded yet) before each; `view`:
    the exporter's privacy policy."""
    current = [snapshot]
    exporter = PrometheusExporter(PrometheusConfig(listen="127.0.0.1:0"), lambda: view(current[0])).start()
    request = urllib.request.Request(f"http://127.0.0.1:{exporter.port}/metrics",
                                     headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    try:
        samples, body = [], b""
        for _ in range(scrapes + 2):
            if fresh:
                current[0] = dataclasses.replace(snapshot)
            started = time.perf_counter()
            with urllib.request.urlopen(request) as resp:
                body = resp.read()
            samples.append(time.perf_counter() - started)
        series = sum(1 for line in gzip.decompress(body).splitlines() if not line.startswith(b"#"))
        return statistics.median(samples[2:]) * 1000, len(body), series
    finally:
        exporter.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def after_tick(port: int, redis) -> tuple:
    """(ticks, COUNTERS_DB round trips, redis commands so far) read just after a tick ends, so a
    window between two such readings holds whole ticks only."""
    ticks = agent_counter(port, "telegen_agent_snapshot_ticks_total")
    while agent_counter(port, "telegen_agent_snapshot_ticks_total") == ticks:
        time.sleep(0.005)
    calls = sum(v["calls"] for name, v in redis.info("commandstats").items() if name != "cmdstat_info")
    return (agent_counter(port, "telegen_agent_snapshot_ticks_total"),
            agent_counter(port, "telegen_agent_counters_db_reads_total"), calls)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def agent_counter(port: int, name: str) -> Optional[float]:
    """A sample of the agent's /metrics; None before its first tick."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return next((float(line.split()[1]) for line in text.splitlines() if line.startswith(name + " ")), None)


class Streams:
    """N gNMI SAMPLE subscriptions at 1 s, each read by a thread that counts the updates."""

    def __init__(self, port: int, count: int):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = gnmi_pb2_grpc.gNMIStub(self.channel)
        path = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="interfaces"), gnmi_pb2.PathElem(name="interface"),
                                   gnmi_pb2.PathElem(name="state"), gnmi_pb2.PathElem(name="counters")])
        request = gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
            subscription=[gnmi_pb2.Subscription(path=path, mode=gnmi_pb2.SAMPLE, sample_interval=1_000_000_000)],
            encoding=gnmi_pb2.JSON_IETF))
        self.updates = 0
        self._lock = threading.Lock()
        self.calls = [stub.Subscribe(iter([request])) for _ in range(count)]
        self.threads = [threading.Thread(target=self._read, args=(c,), daemon=True) for c in self.calls]
        for t in self.threads:
            t.start()

    def _read(self, call) -> None:
        try:
            for response in call:
                with self._lock:
                    self.updates += len(response.update.update)
        except grpc.RpcError:
            pass

    def close(self) -> None:
        for call in self.calls:
            call.cancel()
        for t in self.threads:
            t.join(5)
        self.channel.close()


def agent_scrapes(port: int, scrapes: int):
    """Median ms of a scrape of the running agent (OpenMetrics, gzip), one per tick so each
    encodes a new Snapshot; and its series."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics",
                                     headers={"Accept": PROMETHEUS_ACCEPT, "Accept-Encoding": "gzip"})
    samples, body = [], b""
    for _ in range(scrapes + 1):
        time.sleep(1.05)  # the next tick's Snapshot
        started = time.perf_counter()
        with urllib.request.urlopen(request) as resp:
            body = resp.read()
        samples.append(time.perf_counter() - started)
    series = sum(1 for line in gzip.decompress(body).splitlines() if not line.startswith(b"#"))
    return statistics.median(samples[1:]) * 1000, series


def gnmi_streams_cost(stream_counts, seconds: float, anonymize: bool):
    """The agent on a 64-port switch with every family: (scrape ms, series) and per N streams
    (agent CPU s per wall s, COUNTERS_DB round trips per tick, redis commands per tick, updates/s)."""
    workdir = Path(tempfile.mkdtemp(prefix="export-cost-"))
    server = RedisServer(workdir).start()
    prom_port, gnmi_port = free_port(), free_port()
    try:
        path = server.write_database_config()
        config = load_database_config(str(path))
        load_switch(config, generate_switch(ports=64, portchannels=8, vlans=4))
        load_switch(config, generate_platform(ports=64))
        families = {name: {"refresh_s": 1.0} for name in FamiliesConfig.__dataclass_fields__}  # each tick: worst case,
        (workdir / "agent.yaml").write_text(yaml.safe_dump({  # and the same reads in every measured tick
            "log_level": "warning", "sonic": {"database_config": str(path)}, "probes": {"enabled": False},
            "families": families, **({"privacy": privacy_section(workdir)} if anonymize else {}),
            "export": {"prometheus": {"listen": f"127.0.0.1:{prom_port}"},
                       "gnmi": {"enabled": True, "listen": f"127.0.0.1:{gnmi_port}"}}}))
        agent = subprocess.Popen([sys.executable, "-m", "sonic_agent", "run", "--config", str(workdir / "agent.yaml")],
                                 stdout=subprocess.DEVNULL, stderr=open(workdir / "agent.log", "w"))
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if agent_counter(prom_port, "telegen_agent_snapshot_ticks_total") is not None:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline or agent.poll() is not None:
                    raise RuntimeError(f"the agent did not serve /metrics; see {workdir}/agent.log")
                time.sleep(0.2)
            scrape_ms, series = agent_scrapes(prom_port, scrapes=10)
            stop = threading.Event()

            def scrape():  # as Prometheus would, every second
                while not stop.wait(1.0):
                    urllib.request.urlopen(f"http://127.0.0.1:{prom_port}/metrics", timeout=5).read()
            scraper = threading.Thread(target=scrape, daemon=True)
            scraper.start()
            results = {}
            for count in stream_counts:
                streams = Streams(gnmi_port, count)
                time.sleep(2)  # the streams' initial updates are not the steady state
                redis = server.client()
                ticks0, reads0, calls0 = after_tick(prom_port, redis)
                cpu0, wall0 = cpu_seconds(agent.pid), time.monotonic()
                updates0 = streams.updates
                time.sleep(seconds)
                ticks1, reads1, calls1 = after_tick(prom_port, redis)
                cpu1, wall1 = cpu_seconds(agent.pid), time.monotonic()
                ticks = ticks1 - ticks0
                results[count] = ((cpu1 - cpu0) / (wall1 - wall0), (reads1 - reads0) / ticks,
                                  (calls1 - calls0) / ticks, (streams.updates - updates0) / (wall1 - wall0))
                streams.close()
            stop.set()
            return results, scrape_ms, series
        finally:
            agent.terminate()
            agent.wait(15)
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--queues", type=int, default=20, help="egress queues per port")
    parser.add_argument("--flows", type=int, default=100_000)
    parser.add_argument("--scrapes", type=int, default=20)
    parser.add_argument("--streams", default="1,10,50", help="gNMI SAMPLE stream counts")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured per stream count")
    parser.add_argument("--anonymize", action="store_true", help="everything through a privacy policy")
    args = parser.parse_args()

    snapshot = sample_snapshot(ports=args.ports, flows=100, queues=args.queues)
    view, cold_s = no_policy, 0.0
    if args.anonymize:
        policy = Policies(PrivacyConfig(**privacy_section(Path(tempfile.mkdtemp(prefix="export-cost-")))),
                          {"bench": None}).by_exporter["bench"]
        view = policy.apply
    scrape_ms, gzip_bytes, series = time_scrapes(snapshot, args.scrapes, fresh=True, view=view)
    cached_ms, _, _ = time_scrapes(snapshot, args.scrapes, fresh=False, view=view)
    print(f"scrape: {series} series, median {scrape_ms:.1f} ms over {args.scrapes} scrapes of a new Snapshot "
          f"({cached_ms:.1f} ms of the same one), {gzip_bytes} bytes gzip")

    started = time.perf_counter()
    _, points = MetricsEncoder("cumulative", time.time()).encode(view(dataclasses.replace(snapshot)))
    metrics_ms = (time.perf_counter() - started) * 1000
    print(f"otlp metrics: {points} points encoded in {metrics_ms:.1f} ms")

    flows = [flow(i) for i in range(args.flows)]
    if args.anonymize:  # the first time each address is seen: Crypto-PAn itself
        started = time.perf_counter()
        view(dataclasses.replace(snapshot, flows=flows))
        cold_s = time.perf_counter() - started
    started = time.perf_counter()
    flow_view = view(dataclasses.replace(snapshot, flows=flows))
    encoded = [req.SerializeToString() for req in encode_flows(flow_view, flow_view.flows)]
    otlp_s = time.perf_counter() - started
    print(f"otlp logs: {args.flows} flows -> {len(encoded)} requests, {sum(map(len, encoded))} bytes, {otlp_s:.2f} s")

    counts = [int(n) for n in args.streams.split(",")]
    figures = []
    per_stream, agent_ms, agent_series = gnmi_streams_cost(counts, args.seconds, args.anonymize)
    print(f"agent: 64-port switch with every family, {agent_series} series: median scrape {agent_ms:.1f} ms "
          f"(a new Snapshot each)")
    for n, (cpu, trips, calls, updates) in per_stream.items():
        print(f"gnmi: {n} SAMPLE streams at 1 s over 64 ports' interface counters, /metrics scraped every second: "
              f"agent {cpu:.3f} CPU s per s, {trips:.2f} COUNTERS_DB round trips and {calls:.1f} redis commands "
              f"per tick, {updates:.0f} updates/s sent")
        figures.append(f"cpu_{n}={cpu:.3f} redis_trips_{n}={trips:.2f} redis_cmds_{n}={calls:.1f}")
    print(f"scrape_ms={scrape_ms:.1f} scrape_cached_ms={cached_ms:.1f} agent_scrape_ms={agent_ms:.1f} "
          f"agent_series={agent_series} otlp_100k_s={otlp_s:.2f} "
          f"otlp_metrics_ms={metrics_ms:.1f} anonymize={int(args.anonymize)} anonymize_cold_100k_s={cold_s:.2f} "
          + " ".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
