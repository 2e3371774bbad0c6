"""Benchmark the gNMI server under each filed attack: its CPU and memory, and a legitimate client.

The server runs in a child process (`--serve`: the agent's GnmiServer over a 64-port sample
Snapshot with every record kind, on localhost with a username/password, 1 s first-request
timeout) with its log in a file. The attacks come from ::1, the legitimate client from
127.0.0.1, which Gets /system once every 50 ms throughout. Per attack: the server's CPU
seconds (/proc/PID/stat), its RSS afterwards and its peak (VmHWM), the bytes it logged, and
the legitimate Gets served and refused. Filed figures, before the fixes: one Get with 14 `...`
85 s of CPU; 16 idle Subscribes locked every client out; 50,000 paths 23 s; 200 x `/*` a
42 MB reply and RSS 107 -> 171 MB; 500 Sets 310 kB of log; ~2,000 login guesses/s.
Last line: `key=value ...`.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CLK_TCK = os.sysconf("SC_CLK_TCK")
AUTH = (("username", "admin"), ("password", "s3cret"))
SYSTEM = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="system")])


def serve() -> int:
    import logging
    from sonic_agent.config import GnmiConfig
    from sonic_agent.export.gnmi import GnmiServer
    from sonic_agent.logs import setup_logging
    from tests.export.sample import sample_snapshot
    setup_logging("info", "json")
    logging.getLogger().handlers[0].setLevel(logging.INFO)
    snap = sample_snapshot(ports=64, flows=100, queues=20)
    server = GnmiServer(GnmiConfig(enabled=True, listen="localhost:0", username="admin", password="s3cret",
                                   first_request_timeout_s=1.0), lambda: snap).start()
    print(server.port, flush=True)
    sys.stdin.read()  # until the bench closes it
    server.stop(0)
    return 0


def path(*names: str) -> gnmi_pb2.Path:
    return gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name=n) for n in names])


class Server:
    def __init__(self, logfile: Path):
        self.log = logfile
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=open(logfile, "w"), text=True)
        self.port = int(self.proc.stdout.readline())

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def memory_mb(self, field: str) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def stub(port: int, host: str):
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    channel = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1),
                                                     ("grpc.max_receive_message_length", 64 << 20)])
    return channel, gnmi_pb2_grpc.gNMIStub(channel)


class Legit:
    """Gets /system every 50 ms from 127.0.0.1 while an attack runs."""

    def __init__(self, port: int):
        self.channel, self.stub = stub(port, "127.0.0.1")
        self.served = self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                self.stub.Get(gnmi_pb2.GetRequest(path=[SYSTEM], encoding=gnmi_pb2.JSON), metadata=AUTH, timeout=5)
                self.served += 1
            except grpc.RpcError:
                self.refused += 1

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        self.channel.close()
        return self.served, self.refused


def refused(call) -> None:
    try:
        call()
    except grpc.RpcError:
        pass


def attack_ellipses(port):
    channel, s = stub(port, "::1")
    request = gnmi_pb2.GetRequest(path=[path(*["..."] * 14, "oper-status")], encoding=gnmi_pb2.JSON)
    for _ in range(20):
        s.Get(request, metadata=AUTH, timeout=30)
    channel.close()


def attack_idle_subscribes(port):
    channels = [stub(port, "::1") for _ in range(100)]
    never = threading.Event()

    def silence():
        never.wait(5)
        return
        yield
    calls = [s.Subscribe(silence(), metadata=AUTH, timeout=10) for _, s in channels]
    threads = [threading.Thread(target=refused, args=(lambda c=c: next(c),)) for c in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    never.set()
    for channel, _ in channels:
        channel.close()


def attack_paths(port):
    channel, s = stub(port, "::1")
    request = gnmi_pb2.GetRequest(path=[path(f"x{i}") for i in range(50_000)], encoding=gnmi_pb2.JSON)
    for _ in range(10):
        refused(lambda: s.Get(request, metadata=AUTH, timeout=30))
    channel.close()


def attack_reply_size(port):
    channel, s = stub(port, "::1")
    for n in (200, 60):  # 200: too many paths; 60 within max_paths: the reply cap
        request = gnmi_pb2.GetRequest(path=[path("*")] * n, encoding=gnmi_pb2.JSON)
        for _ in range(5):
            refused(lambda: s.Get(request, metadata=AUTH, timeout=60))
    channel.close()


def attack_sets(port):
    channel, s = stub(port, "::1")
    for _ in range(500):
        refused(lambda: s.Set(gnmi_pb2.SetRequest(), metadata=AUTH, timeout=5))
    for _ in range(100):
        refused(lambda: s.Get(gnmi_pb2.GetRequest(path=[SYSTEM], encoding=42), metadata=AUTH, timeout=5))
    channel.close()


def attack_logins(port):
    channel, s = stub(port, "::1")
    wrong = (("username", "admin"), ("password", "guess"))
    started = time.monotonic()
    for _ in range(5000):
        refused(lambda: s.Get(gnmi_pb2.GetRequest(path=[SYSTEM], encoding=gnmi_pb2.JSON), metadata=wrong, timeout=5))
    channel.close()
    return time.monotonic() - started


ATTACKS = {"ellipses": attack_ellipses, "idle_subscribes": attack_idle_subscribes, "paths": attack_paths,
           "reply_size": attack_reply_size, "sets": attack_sets, "logins": attack_logins}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve()
    workdir = Path(tempfile.mkdtemp(prefix="gnmi-attacks-"))
    server = Server(workdir / "server.log")
    figures = [f"rss_start_mb={server.memory_mb('VmRSS'):.0f}"]
    try:
        for name, attack in ATTACKS.items():
            legit = Legit(server.port)
            cpu0, logged0 = server.cpu_s(), server.log.stat().st_size
            started = time.monotonic()
            attack(server.port)
            wall = time.monotonic() - started
            served, refused_ = legit.stop()
            cpu = server.cpu_s() - cpu0
            logged = server.log.stat().st_size - logged0
            rss, peak = server.memory_mb("VmRSS"), server.memory_mb("VmHWM")
            print(f"{name}: {wall:.1f} s, server {cpu:.2f} CPU s, RSS {rss:.0f} MB (peak {peak:.0f} MB), "
                  f"{logged} bytes logged; legitimate Gets {served} served, {refused_} refused")
            figures.append(f"{name}_cpu_s={cpu:.2f} {name}_rss_mb={rss:.0f} {name}_peak_mb={peak:.0f} "
                           f"{name}_log_bytes={logged} {name}_legit_served={served} {name}_legit_refused={refused_}")
    finally:
        server.stop()
    print(" ".join(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
