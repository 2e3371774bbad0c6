"""What a slowloris attack costs the agent's bounded HTTP layer (sonic_agent.httpserver).

A server process serves /metrics (a 4-port sample Snapshot) with the Prometheus limits. For
`--seconds`, as many tricklers as the server will hold (max_per_client from each of enough
loopback addresses to fill max_connections, and as many more that get refused) send one
header line every 0.2 s and reconnect when cut, while one client scrapes every 100 ms.
Reports the server's RSS before and during the attack, its CPU seconds per second during it,
and how the scrapes fared. Target: every scrape 200, cpu_per_s << 1 core, RSS bounded by
the slots. Last line: `scrapes=... scrapes_ok=... refused=... timeouts=... evicted=...
cpu_per_s=... rss_idle_mb=... rss_attack_mb=...`.
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parent.parent
SERVER = """
import sys, threading
sys.path.insert(0, {repo!r}); sys.path.insert(0, {repo!r} + "/tests/..")
from sonic_agent.config import PrometheusConfig
from sonic_agent.export.prometheus import PrometheusExporter
from tests.export.sample import sample_snapshot
snap = sample_snapshot()
ex = PrometheusExporter(PrometheusConfig(listen="127.0.0.1:0"), lambda: snap).start()
print(ex.port, flush=True)
sys.stdin.read()
print(ex.agent_counters(), flush=True)
"""


def proc_stat(pid: int):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return cpu, int(status["VmRSS"].split()[0]) / 1024


def trickler(port: int, source: str, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as sock:
                sock.sendall(b"GET /metrics HTTP/1.1\r\n")
                while not stop.wait(0.2):
                    sock.sendall(b"X-Trickle: 1\r\n")
        except OSError:
            stop.wait(0.05)  # cut (408) or refused (503): come back, as an attacker would


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from sonic_agent.export.prometheus import LIMITS
    server = subprocess.Popen([sys.executable, "-c", SERVER.format(repo=str(REPO))], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    port = int(server.stdout.readline())
    requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    _, rss_idle = proc_stat(server.pid)
    addresses = 2 * -(-LIMITS.max_connections // LIMITS.max_per_client)  # twice what fills the server
    stop = threading.Event()
    threads = [threading.Thread(target=trickler, args=(port, f"127.0.2.{a + 1}", stop), daemon=True)
               for a in range(addresses) for _ in range(LIMITS.max_per_client)]
    for t in threads:
        t.start()
    time.sleep(1.0)  # the attack reaches its steady state
    cpu0, _ = proc_stat(server.pid)
    started, codes, rss_attack = time.monotonic(), [], 0.0
    while time.monotonic() - started < args.seconds:
        try:
            codes.append(requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code)
        except requests.RequestException:
            codes.append(0)
        rss_attack = max(rss_attack, proc_stat(server.pid)[1])
        time.sleep(0.1)
    cpu1, _ = proc_stat(server.pid)
    elapsed = time.monotonic() - started
    stop.set()
    counters = eval(server.communicate("", timeout=30)[0].strip())  # noqa: S307 (our own child's dict)
    print(f"tricklers={len(threads)} limits: {LIMITS}")
    print(f"scrapes={len(codes)} scrapes_ok={codes.count(200)} "
          f"refused={int(counters['prometheus_http_refused_client_total'] + counters['prometheus_http_refused_busy_total'])} "
          f"timeouts={int(counters['prometheus_http_timeouts_total'])} "
          f"evicted={int(counters['prometheus_http_evicted_total'])} cpu_per_s={(cpu1 - cpu0) / elapsed:.3f} "
          f"rss_idle_mb={rss_idle:.1f} rss_attack_mb={rss_attack:.1f}")


if __name__ == "__main__":
    main()
