"""One kernel's checks, run inside a QEMU guest booted on it (kernels/matrix.py) or on this
machine's own kernel, with the agent as installed there. Prints one line:

    kernel=R loaded=yes attached=yes counted=N/N probe_ns=P decode_ns=D drop_reasons=yes|no agent=ok

- a switch namespace with two veths (Ethernet0, a CONFIG_DB port; eth1, the mirror collector)
  whose peers sit in a neighbor namespace, a redis-server, and the agent (probes on, the XDP
  mirror decoder on eth1, Prometheus on the switch's loopback) started against that redis;
- loaded: the probe and the decoder build this kernel takes load here; attached: the agent put
  the probe's XDP and TC programs on Ethernet0 and the decoder on eth1;
- counted: the frames of each probe class (frames.json, crafted on the host) sent in both
  directions and the ERSPAN frames sent to eth1, against what /metrics counts: exact or not;
- probe_ns, decode_ns: BPF_PROG_TEST_RUN of the probe and of the decoder build this kernel
  takes (under QEMU's TCG these are emulated nanoseconds: compare kernels, not machines);
- drop_reasons: what the agent reports (tp_btf/kfree_skb has no reason before 5.17);
- agent: ok when it served every scrape and SIGTERM left no program behind.
Usage: python3 guest_check.py FRAMES_JSON [--redis-server PATH]. Exit 0 when all holds.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
from pyroute2 import IPRoute, NetNS, netns

from sonic_agent.bpf import BpfObject, object_path, prog_name_by_id
from sonic_agent.bpf import netattach as na
from sonic_agent.mirror.xdp import XdpMirrorDecoder
from sonic_agent.probes import leftovers

CLONE_NEWNET = 0x40000000
METRICS = 9110
PORT, COLLECTOR = "Ethernet0", "eth1"  # in the switch namespace; peers nbr0, mir0
_libc = ctypes.CDLL(None, use_errno=True)


def enter(name: str) -> None:
    """Move the calling thread into namespace `name` for good."""
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


@contextlib.contextmanager
def in_netns(name: str):
    """This thread in namespace `name` for the block."""
    home, target = os.open("/proc/thread-self/ns/net", os.O_RDONLY), os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(target, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), f"setns {name}")
        yield
    finally:
        _libc.setns(home, CLONE_NEWNET)
        os.close(target)
        os.close(home)


def make_links(sw: str, nbr: str) -> None:
    for ns in (sw, nbr):
        netns.create(ns)
        with in_netns(ns):  # no IPv6 autoconfiguration: only the test's frames move
            for conf in ("all", "default"):
                Path(f"/proc/sys/net/ipv6/conf/{conf}/disable_ipv6").write_text("1")
    with IPRoute() as ip:
        for mine, peer in ((PORT, "nbr0"), (COLLECTOR, "mir0")):
            ip.link("add", ifname=mine, kind="veth", peer=peer)
            ip.link("set", index=ip.link_lookup(ifname=mine)[0], net_ns_fd=sw)
            ip.link("set", index=ip.link_lookup(ifname=peer)[0], net_ns_fd=nbr)
    for ns in (sw, nbr):
        with NetNS(ns) as ip:
            for link in ip.get_links():
                ip.link("set", index=link["index"], state="up")


def start_redis(server: str, work: Path) -> tuple:
    sock = work / "redis.sock"
    proc = subprocess.Popen([server, "--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no",
                             "--databases", "16", "--notify-keyspace-events", "AKE", "--dir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(unix_socket_path=str(sock), db=4, decode_responses=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            client.ping()
            break
        except (redis.ConnectionError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    client.hset(f"PORT|{PORT}", mapping={"alias": "etp1", "lanes": "0,1,2,3", "speed": "100000", "mtu": "9100",
                                         "admin_status": "up", "index": "1"})
    client.hset("DEVICE_METADATA|localhost", mapping={"hostname": "kernel-matrix", "hwsku": "lab"})
    config = work / "sonic-db" / "database_config.json"
    config.parent.mkdir()
    config.write_text(json.dumps({
        "INSTANCES": {"redis": {"hostname": "127.0.0.1", "port": 0, "unix_socket_path": str(sock)}},
        "DATABASES": {n: {"id": i, "separator": s, "instance": "redis"} for n, i, s in (
            ("APPL_DB", 0, ":"), ("COUNTERS_DB", 2, ":"), ("CONFIG_DB", 4, "|"), ("STATE_DB", 6, "|"))},
        "VERSION": "1.0"}))
    return proc, config


SAMPLE = re.compile(r'^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def scrape(pool) -> list:
    """[(name, labels, value)] of the agent's /metrics; [] while it does not answer."""
    def get():
        return urllib.request.urlopen(f"http://127.0.0.1:{METRICS}/metrics", timeout=5).read().decode()
    try:
        text = pool.submit(get).result()
    except OSError:
        return []
    return [(m[1], dict(LABEL.findall(m[2] or "")), float(m[3])) for m in map(SAMPLE.match, text.splitlines()) if m]


def value(samples: list, name: str, **labels) -> float:
    return sum(v for n, ls, v in samples if n == name and labels.items() <= ls.items())


def wait(predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def send(ns: str, dev: str, frames) -> None:
    with in_netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    with sock:
        sock.bind((dev, 0))
        for frame in frames:
            sock.send(frame)


def programs(sw: str) -> dict:
    """What is attached in the switch namespace: probe hooks on Ethernet0, the decoder on eth1."""
    with in_netns(sw):
        probes = leftovers.find().get(socket.if_nametoindex(PORT), {})
        decoder = na.xdp_query(socket.if_nametoindex(COLLECTOR))[0]
        return {**probes, "mirror": prog_name_by_id(decoder) if decoder else ""}


def costs(spec: dict, repeat: int) -> tuple:
    """(probe_ns, decode_ns): both objects loaded here and run with BPF_PROG_TEST_RUN (the
    decoder build this kernel takes; the probe without its drop program, which 5.10 refuses)."""
    with BpfObject(str(object_path("port_probe.bpf.o")), skip=("tgs_probe_drop",)) as probe:
        probe_ns = probe.program("tgs_probe_xdp").test_run(bytes.fromhex(spec["cost"]["probe"]), repeat)[1]
    with XdpMirrorDecoder() as decoder:
        decode_ns = decoder.program.test_run(bytes.fromhex(spec["cost"]["decoder"]), repeat)[1]
    return probe_ns, decode_ns


def start_agent(sw: str, work: Path, db_config: Path, tag: str) -> subprocess.Popen:
    """The agent in the switch namespace: probes on the CONFIG_DB port, the XDP decoder on eth1."""
    config = work / "agent.yaml"
    config.write_text(json.dumps({
        "log_format": "text", "sonic": {"database_config": str(db_config)},
        "probes": {"pin_dir": f"/sys/fs/bpf/{tag}", "management_interface": None},
        "mirror": {"enabled": True, "interface": COLLECTOR, "mode": "xdp"},
        "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS}"}}}))
    with open(work / "agent.log", "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "sonic_agent", "run", "--config", str(config)],
                                stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: enter(sw))


def attached(sw: str):
    """The programs when the probe's XDP and TC egress hooks and the decoder are all on, else None."""
    p = programs(sw)
    return p if {"xdp", "tc_eg"} <= set(p) and p["mirror"].startswith("tgs_mirror_") else None


def count(spec: dict, pool, sw: str, nbr: str) -> dict:
    """Each class's frames in (from the neighbor) and out (from the switch), the ERSPAN frames
    to the collector; then what /metrics counts for each, once it is exact or after 60 s."""
    for direction, ns, dev in (("rx", nbr, "nbr0"), ("tx", sw, PORT)):
        for _, frame, n in spec[direction]:
            send(ns, dev, [bytes.fromhex(frame)] * n)
    for frame, n in spec["erspan"]:
        send(nbr, "mir0", [bytes.fromhex(frame)] * n)
    sent = {(d, c): n for d in ("rx", "tx") for c, _, n in spec[d]}
    sent["mirror", "flows"] = sum(n for _, n in spec["erspan"])

    def seen():
        now = scrape(pool)
        got = {(d, c): value(now, "telegen_probe_packets_total", port=PORT, direction=d, **{"class": c})
               for d, c in sent if d != "mirror"}
        return {**got, ("mirror", "flows"): value(now, "telegen_agent_mirror_flow_packets_total")}

    got = wait(lambda: (lambda s: s if s == sent else None)(seen()), 60) or seen()
    return {"counted": f"{int(sum(min(got[k], n) for k, n in sent.items()))}/{sum(sent.values())}",
            "exact": got == sent}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frames", help="frames.json from kernels/matrix.py")
    parser.add_argument("--redis-server", default="redis-server")
    parser.add_argument("--repeat", type=int, default=100_000)
    args = parser.parse_args()
    spec = json.loads(Path(args.frames).read_text())
    tag = f"tgk{os.getpid()}"
    sw, nbr = f"{tag}-sw", f"{tag}-nbr"
    result = {"kernel": os.uname().release, "loaded": "no", "attached": "no", "counted": "0/0", "probe_ns": "-",
              "decode_ns": "-", "drop_reasons": "-", "agent": "failed"}
    work = Path(tempfile.mkdtemp(prefix="tgk-"))
    redis_proc = agent = pool = None
    ok = False
    try:
        probe_ns, decode_ns = costs(spec, args.repeat)
        result.update(loaded="yes", probe_ns=f"{probe_ns:.0f}", decode_ns=f"{decode_ns:.0f}")
        make_links(sw, nbr)
        pool = ThreadPoolExecutor(1, initializer=enter, initargs=(sw,))  # scrapes from the switch
        redis_proc, db_config = start_redis(args.redis_server, work)
        agent = start_agent(sw, work, db_config, tag)
        if wait(lambda: attached(sw), 300):
            result["attached"] = "yes"
            if wait(lambda: scrape(pool), 120):
                counts = count(spec, pool, sw, nbr)
                result["counted"] = counts["counted"]
                drops = [v for n, _, v in scrape(pool) if n == "telegen_agent_probes_kernel_drops_available"]
                result["drop_reasons"] = {1.0: "yes", 0.0: "no"}.get(drops[0] if drops else None, "-")
                agent.send_signal(signal.SIGTERM)
                clean = agent.wait(60) == 0 and programs(sw) == {"mirror": ""}  # SIGTERM took everything off
                result["agent"] = "ok" if clean else "failed"
                ok = counts["exact"] and clean
    except Exception as exc:  # the line must still come out: say what broke in it
        result["agent"] = f"failed:{type(exc).__name__}:{str(exc)[:120].replace(' ', '_')}"
    finally:
        if agent and agent.poll() is None:
            agent.kill()
        if redis_proc:
            redis_proc.kill()
        if pool:
            pool.shutdown()
        for ns in (sw, nbr):
            with contextlib.suppress(Exception):
                netns.remove(ns)
        subprocess.run(["rm", "-rf", f"/sys/fs/bpf/{tag}"], check=False)
    if not ok and (work / "agent.log").exists():
        sys.stderr.write((work / "agent.log").read_text(errors="replace")[-3000:])
    shutil.rmtree(work, ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in result.items()), flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
