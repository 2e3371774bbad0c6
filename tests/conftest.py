"""Shared test fixtures: real redis-server instances, network namespaces, ../shared data.

A test that needs root, BPF, netns or redis fails (not skips) under CI=true when that is
missing; on a developer's machine it skips with the reason.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Fail under CI, skip elsewhere, when a real component the test needs is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    """A file under ../shared: fails under CI when absent, skips (with the reason) in a user's
    clone that has none."""
    path = SHARED.joinpath(*parts)
    require(path.exists(), f"{path} absent (../shared is only beside development and CI checkouts)")
    return path


def wait_until(predicate, timeout: float = 3.0):
    """The first truthy value of `predicate()`, polled every 20 ms; None if it gave none within
    `timeout` seconds (asked once more at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.02)


def require_root() -> None:
    require(os.geteuid() == 0, "needs root (netns, veth, BPF)")
    require(shutil.which("ip") is not None, "needs iproute2")


def bpftool_net(netns: str) -> dict:
    """bpftool's view of the programs on the devices of namespace `netns`: {"xdp": [...], "tc": [...]}."""
    require(shutil.which("bpftool") is not None, "needs bpftool")
    out = subprocess.run(["nsenter", f"--net=/run/netns/{netns}", "bpftool", "net", "-j"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


class RedisServer:
    """A real redis-server on a unix socket in a temp dir, with keyspace notifications on."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.socket = str(workdir / "redis.sock")
        self.proc = None

    def start(self) -> "RedisServer":
        self.proc = subprocess.Popen(
            ["redis-server", "--port", "0", "--unixsocket", self.socket, "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--databases", "32", "--dir", str(self.dir),
             "--notify-keyspace-events", "AKE"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if redis.Redis(unix_socket_path=self.socket).ping():
                    return self
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(unix_socket_path=self.socket, db=db, decode_responses=True)

    def write_database_config(self, template: Path = None, name: str = "database_config.json") -> Path:
        """A database_config.json pointing every instance at this server (ids from `template`)."""
        if template is not None:
            data = json.loads(Path(template).read_text())
        else:
            data = {"DATABASES": {n: {"id": i, "separator": s, "instance": "redis"} for n, i, s in (
                ("APPL_DB", 0, ":"), ("ASIC_DB", 1, ":"), ("COUNTERS_DB", 2, ":"), ("CONFIG_DB", 4, "|"),
                ("FLEX_COUNTER_DB", 5, ":"), ("STATE_DB", 6, "|"))}, "VERSION": "1.0"}
        data["INSTANCES"] = {inst: {"hostname": "127.0.0.1", "port": 0, "unix_socket_path": self.socket}
                             for inst in (data.get("INSTANCES") or {"redis": {}})}
        path = self.dir / name
        path.write_text(json.dumps(data, indent=2))
        return path


@pytest.fixture
def redis_server(tmp_path):
    require(shutil.which("redis-server") is not None, "needs redis-server (apt-get install redis-server)")
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


@pytest.fixture
def netns_pair():
    """Two fresh network namespaces joined by one veth pair: (ns_a, 'veth-a', ns_b, 'veth-b')."""
    require_root()
    tag = uuid.uuid4().hex[:6]
    ns_a, ns_b = f"tga-{tag}", f"tgb-{tag}"
    for ns in (ns_a, ns_b):
        subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "link", "add", "veth-a", "netns", ns_a, "type", "veth",
                        "peer", "name", "veth-b", "netns", ns_b], check=True)
        for ns, dev in ((ns_a, "veth-a"), (ns_b, "veth-b")):
            subprocess.run(["ip", "-n", ns, "link", "set", dev, "up"], check=True)
            subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        yield ns_a, "veth-a", ns_b, "veth-b"
    finally:
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "del", ns], check=False)


CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move the calling thread (only it: setns is per thread) into network namespace `name`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {name}")
    finally:
        os.close(fd)


@contextlib.contextmanager
def in_netns(name: str, threads: int = 1):
    """A caller `run(fn)` giving `fn()`'s result, run on a thread inside network namespace `name`
    (`threads` of them for concurrent callers)."""
    pool = ThreadPoolExecutor(threads, initializer=enter_netns, initargs=(name,))
    try:
        yield lambda fn: pool.submit(fn).result()
    finally:
        pool.shutdown()


@contextlib.contextmanager
def built_in_lab(prefix: str):
    """The built-in lab switch under a fresh name, up for the block and down after it."""
    from telegen_lab.control import lab_down, lab_up
    from telegen_lab.topology import LabLayout
    require_root()
    require(shutil.which("redis-server") is not None, "needs redis-server")
    layout = LabLayout(prefix + uuid.uuid4().hex[:5])
    lab_up(layout)
    try:
        yield layout
    finally:
        lab_down(layout)


@pytest.fixture(scope="module")
def lab():
    """The built-in lab switch, up for one test module: its tests restore what they change
    (tests/test_lab.py has its own per test, not brought up, to test lab up and down)."""
    with built_in_lab("l") as layout:
        yield layout


@pytest.fixture(scope="module")
def in_lab(lab):
    """Calls `fn()` from a thread inside the module's lab switch namespace."""
    with in_netns(lab.switch_ns) as run:
        yield run


def podman(*args, **kw) -> subprocess.CompletedProcess:
    """podman as the project runs it (docker/containers.conf), its output captured."""
    from docker.build import CONTAINERS_CONF
    return subprocess.run(["podman", *args], env=dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF)),
                          capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def image_build():
    """`make image`'s build (cached under build/image: a no-op when nothing changed); its last line."""
    require_root()
    for tool in ("mmdebstrap", "podman", "runc"):
        require(shutil.which(tool) is not None, f"needs {tool} (scripts/setup.sh installs it)")
    done = subprocess.run([sys.executable, "-m", "docker.build"], cwd=REPO, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def assert_catalogued(counters) -> None:
    """Every agent counter a part reports is in the catalogue (else no exporter would show it)."""
    from sonic_agent.catalogue.agent import COUNTERS
    unknown = set(counters) - {name for name, _, _ in COUNTERS}
    assert not unknown, f"agent counters missing from sonic_agent/catalogue/agent.py: {sorted(unknown)}"
