"""The agent with mirror jobs on the lab, and traffic the tests send through the lab's ports.

`LabAgent` runs `telegen-sonic run` in the switch namespace (the XDP decoder on eth0, the job
API on the namespace's loopback) and talks to it from a thread inside that namespace. Frames
are crafted with scapy from the lab's links (each neighbor's MAC and address, the switch
port's MAC) and sent from the neighbor side with AF_PACKET, so the switch routes them across
its ports, where the lab's ASIC mirror sees them.
"""
from __future__ import annotations

import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import requests
import yaml
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab.topology import MGMT_PORT, LabLayout
from telegen_lab.traffic import Sender, read_links
from tests.conftest import wait_until
from tests.export.prometheus_peer import enter_netns
from tests.probes.conftest import netns

TOKEN = "lab-token"
API = "127.0.0.1:9531"


class LabAgent:
    def __init__(self, layout: LabLayout, workdir: Path, **jobs):
        self.layout, self.workdir = layout, workdir
        self.mode = jobs.get("mode", "xdp")
        self.config = workdir / "agent.yaml"
        self.config.write_text(yaml.safe_dump({
            "log_format": "text",
            "sonic": {"database_config": str(layout.db_config)},
            "probes": {"enabled": False},
            "mirror": {"enabled": True, "interface": MGMT_PORT, "mode": jobs.pop("mode", "xdp")},
            "export": {"prometheus": {"enabled": False}, **jobs.pop("export", {})},
            "jobs": {"enabled": True, "listen": API, "token": TOKEN, "journal": str(workdir / "journal.json"),
                     "default_duration_s": 30, "max_duration_s": 60, **jobs},
        }))
        self.proc: Optional[subprocess.Popen] = None
        self.pool = ThreadPoolExecutor(1, initializer=enter_netns, initargs=(layout.switch_ns,))
        dbs = load_database_config(str(layout.db_config))
        self.config_db, self.state_db = dbs.connect("CONFIG_DB"), dbs.connect("STATE_DB")

    def start(self) -> None:
        self.spawn()
        self.wait_up()

    def spawn(self) -> float:
        """Starts it; returns when (time.monotonic())."""
        spawned = time.monotonic()
        self.proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{self.layout.switch_ns}", sys.executable, "-m",
                                      "sonic_agent", "run", "--config", str(self.config)],
                                     stdout=subprocess.DEVNULL, stderr=open(self.workdir / "agent.log", "ab"))
        return spawned

    def wait_up(self) -> None:
        up = wait_until(lambda: self.proc.poll() is not None or self.answers(), 30)
        assert up and self.proc.poll() is None, (self.workdir / "agent.log").read_text()[-3000:]

    def answers(self) -> bool:
        try:
            return self.call("GET").status_code == 200
        except requests.RequestException:
            return False

    def call(self, method: str, path: str = "", body=None, token: Optional[str] = TOKEN) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        url = f"http://{API}/v1/monitor/jobs{path}"
        return self.pool.submit(lambda: requests.request(method, url, json=body, headers=headers, timeout=20)).result()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["nsenter", f"--net=/run/netns/{self.layout.switch_ns}", sys.executable, "-m",
                               "sonic_agent", "mirror", *args, "--config", str(self.config)],
                              capture_output=True, text=True, timeout=60)

    def wait_status(self, job_id: str, status: str, timeout: float) -> dict:
        job = wait_until(lambda: (lambda j: j if j.get("status") == status else None)(
            self.call("GET", f"/{job_id}").json()), timeout)
        assert job, f"job {job_id} not {status} within {timeout}s: {self.call('GET', f'/{job_id}').text}"
        return job

    def config_db_dump(self) -> Dict[str, object]:
        db = self.config_db
        return {k: db.hgetall(k) if db.type(k) == "hash" else db.get(k) for k in db.keys("*")}

    def job_keys(self) -> List[str]:
        return [k for k in self.config_db.keys("*") if "telegen-job-" in k or "TELEGEN_JOB_" in k]

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.terminate()
        self.pool.shutdown()


class Traffic:
    """Frames between the lab's neighbors, sent from their side of the links."""

    def __init__(self, layout: LabLayout):
        self.layout = layout
        self.links = read_links(layout)

    def ip(self, port: str) -> str:
        return self.links[port].ip4

    def frames(self, from_port: str, to_port: str, proto: str, sport: int, dport: int, count: int,
               size: int = 120, flags: str = "PA") -> List[Tuple[str, bytes]]:
        """`count` frames from `from_port`'s neighbor to `to_port`'s, routed by the switch; each
        payload carries its number, so no two frames are alike."""
        link = self.links[from_port]
        l4 = UDP(sport=sport, dport=dport) if proto == "udp" else TCP(sport=sport, dport=dport, flags=flags)
        head = Ether(src=link.mac, dst=link.switch_mac) / IP(src=link.ip4, dst=self.ip(to_port), ttl=64) / l4
        pad = max(0, size - len(head) - 8)
        return [(from_port, bytes(head / Raw(b"%08d" % i + b"p" * pad))) for i in range(count)]

    def send(self, frames: List[Tuple[str, bytes]]) -> None:
        with netns(self.layout.neighbor_ns):
            sender = Sender({port for port, _ in frames})
        try:
            for port, frame in frames:
                sender.sockets[port].send(frame)
        finally:
            sender.close()

    def neighbors_resolved(self, ips) -> bool:
        """The switch knows the MACs of these neighbors (so no frame waits for ARP)."""
        out = subprocess.run(["ip", "-n", self.layout.switch_ns, "-4", "neigh", "show"], capture_output=True,
                             text=True).stdout
        known = {line.split()[0] for line in out.splitlines() if "lladdr" in line}
        return set(ips) <= known


def flow_counts(results: dict) -> Dict[tuple, Tuple[int, int]]:
    """{(src, dst, protocol, src_port, dst_port, direction): (packets, bytes)} of a job's TCP/UDP flows."""
    return {(f["src"], f["dst"], f["protocol"], f["src_port"], f["dst_port"], f["direction"]): (f["pkts"], f["bytes"])
            for f in results["top_flows"] if f["protocol"] in (6, 17)}


def ip_bytes(frames: List[Tuple[str, bytes]]) -> int:
    return sum(len(frame) - 14 for _, frame in frames)
