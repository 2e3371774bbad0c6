"""Resident memory of a process running the port probes on 64 ports, after a minute of traffic.

For now the probe-only version: 64 veth pairs between a "switch" and a "neighbor" network
namespace, `python -m sonic_agent.probes` attached to the 64 switch ends (XDP + TC egress,
maps read every second as the agent does), control-plane frames sent to every port for the
whole run. Reports the probe process's VmRSS, whether any LLVM/clang library is mapped in it,
and a plain interpreter with the same imports (numpy) as the baseline, same run.
Target: rss_mb <= 100 (the whole agent). Last line: `rss_mb=... baseline_mb=... ...`.
"""
from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from scapy.all import ARP, IP, TCP, Ether, Raw, raw  # noqa: E402

from tests.probes.conftest import netns  # noqa: E402


def sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def llvm_mapped(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(lib in maps for lib in ("libLLVM", "libclang", "libbcc"))


def traffic(ns: str, devs, stop: threading.Event) -> int:
    """LLDP, ARP and BGP to every port, 10 frames per port per second, until `stop`."""
    frames = [raw(Ether(src="02:00:00:00:00:0b", dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(bytes(60))),
              raw(Ether(src="02:00:00:00:00:0b", dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="192.0.2.2", pdst="192.0.2.1")),
              raw(Ether(src="02:00:00:00:00:0b", dst="02:00:00:00:00:0a") / IP(src="192.0.2.2", dst="192.0.2.1")
                  / TCP(sport=40000, dport=179))]
    with netns(ns):
        socks = [socket.socket(socket.AF_PACKET, socket.SOCK_RAW) for _ in devs]
    for sock, dev in zip(socks, devs):
        sock.bind((dev, 0))
    sent = 0
    while not stop.wait(0.3):
        for sock in socks:
            for frame in frames:
                sock.send(frame)
                sent += 1
    for sock in socks:
        sock.close()
    return sent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60.0)
    args = parser.parse_args()

    tag = uuid.uuid4().hex[:6]
    ns_sw, ns_nb = f"tgrss-sw-{tag}", f"tgrss-nb-{tag}"
    pin_dir = f"/sys/fs/bpf/telegen-bench-{tag}"
    sw_devs = [f"Ethernet{4 * i}" for i in range(args.ports)]
    nb_devs = [f"nb{4 * i}" for i in range(args.ports)]
    for ns in (ns_sw, ns_nb):
        sh("ip", "netns", "add", ns)
    proc = baseline = None
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".ip") as batch:
            for sw, nb in zip(sw_devs, nb_devs):
                batch.write(f"link add {sw} netns {ns_sw} type veth peer name {nb} netns {ns_nb}\n")
            batch.flush()
            sh("ip", "-batch", batch.name)
        for ns, devs in ((ns_sw, sw_devs), (ns_nb, nb_devs)):
            with tempfile.NamedTemporaryFile("w", suffix=".ip") as batch:
                batch.write("".join(f"link set {d} up\n" for d in devs))
                batch.flush()
                sh("ip", "-n", ns, "-batch", batch.name)
        start = time.monotonic()
        proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{ns_sw}", sys.executable, "-m", "sonic_agent.probes",
                                 "--pin-dir", pin_dir, "--read-interval", "1", *sw_devs],
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        ready = json.loads(proc.stdout.readline() or "{}")
        attach_s = time.monotonic() - start
        modes = sorted(set(ready.get("ports", {}).values()))
        if len(ready.get("ports", {})) != args.ports:
            print(f"probes attached to {len(ready.get('ports', {}))} of {args.ports} ports", file=sys.stderr)
            return 1
        baseline = subprocess.Popen([sys.executable, "-c", "import numpy, sys; sys.stdin.read()"],
                                    stdin=subprocess.PIPE)
        stop = threading.Event()
        result = {}
        sender = threading.Thread(target=lambda: result.update(sent=traffic(ns_nb, nb_devs, stop)))
        sender.start()
        time.sleep(args.duration)
        stop.set()
        sender.join()
        rss, base, llvm = rss_mb(proc.pid), rss_mb(baseline.pid), llvm_mapped(proc.pid)
        print(f"ports={args.ports} ingress={','.join(modes)} attach_s={attach_s:.2f} frames_sent={result['sent']} "
              f"drops={ready.get('drops', '')!r}")
        print(f"rss_mb={rss:.1f} baseline_mb={base:.1f} ratio={rss / base:.2f} llvm_mapped={'yes' if llvm else 'no'} "
              f"ports={args.ports} duration_s={args.duration:.0f}")
        return 0
    finally:
        for p in (proc, baseline):
            if p and p.poll() is None:
                p.terminate()
                p.wait(30)
        for ns in (ns_sw, ns_nb):
            subprocess.run(["ip", "netns", "del", ns], check=False)
        shutil.rmtree(pin_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
