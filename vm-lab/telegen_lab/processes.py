"""The lab's background processes (redis-server, the state daemon, traffic): start, track, stop.

Each process has a pidfile in the lab directory; `stop_all` signals every one and waits, so
`lab down` leaves no process behind even after a crash of the command that started them.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

import redis
from sonic_agent.errors import UserError

from .topology import LabLayout

REDIS = "redis"  # the redis-server's pidfile name
CONTAINER_DB_CONFIG = "sonic-db/database_config.json"  # in LabLayout.redis_dir, as on a switch
CONTAINER_SOCKET = "/var/run/redis/redis.sock"
REDIS_DATABASES = {  # SONiC's usual ids and separators, written to the lab's database_config.json
    "APPL_DB": (0, ":"), "ASIC_DB": (1, ":"), "COUNTERS_DB": (2, ":"), "LOGLEVEL_DB": (3, ":"),
    "CONFIG_DB": (4, "|"), "PFC_WD_DB": (5, ":"), "FLEX_COUNTER_DB": (5, ":"), "STATE_DB": (6, "|"),
    "SNMP_OVERLAY_DB": (7, "|"), "APPL_STATE_DB": (14, ":"),
}


def start_redis(layout: LabLayout) -> None:
    """A redis-server on a unix socket, laid out like SONiC's, with keyspace notifications on."""
    sock = layout.redis_socket
    sock.parent.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            ["redis-server", "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "770",
             "--daemonize", "yes", "--pidfile", str(layout.pidfile(REDIS)), "--dir", str(sock.parent),
             "--save", "", "--appendonly", "no", "--databases", "32",
             "--notify-keyspace-events", "AKE", "--logfile", str(sock.parent / "redis.log")],
            check=True, capture_output=True)
    except FileNotFoundError:
        raise UserError("lab: redis-server not found (run scripts/setup.sh)") from None
    client = redis.Redis(unix_socket_path=str(sock))
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            break
        except (redis.exceptions.ConnectionError, FileNotFoundError):
            if time.time() > deadline:
                raise UserError(f"lab: redis-server did not answer on {sock}") from None
            time.sleep(0.05)
    # the lab's own view, and the one of a container mounting redis_dir at /var/run/redis
    for config, socket_path in ((layout.db_config, sock), (layout.redis_dir / CONTAINER_DB_CONFIG, CONTAINER_SOCKET)):
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text(json.dumps({
            "INSTANCES": {"redis": {"hostname": "127.0.0.1", "port": 6379, "unix_socket_path": str(socket_path)}},
            "DATABASES": {name: {"id": i, "separator": sep, "instance": "redis"}
                          for name, (i, sep) in REDIS_DATABASES.items()},
            "VERSION": "1.0",
        }, indent=4))


def spawn(layout: LabLayout, process: str, argv: List[str], netns: Optional[str] = None) -> int:
    """Start a detached lab process (optionally inside a namespace), record its pid.

    nsenter, not `ip netns exec`: the latter remounts /sys, hiding bpffs from the agent."""
    cmd = (["nsenter", f"--net=/run/netns/{netns}"] if netns else []) + argv
    log = open(layout.dir / f"{process}.log", "ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    layout.pidfile(process).write_text(str(proc.pid))
    return proc.pid


def python_module(module: str, *args: str) -> List[str]:
    return [sys.executable, "-m", module, *args]


def running(layout: LabLayout) -> dict:
    """{process name: pid} for every pidfile whose process is alive."""
    alive = {}
    if not layout.dir.exists():
        return alive
    for pidfile in layout.dir.glob("*.pid"):
        pid = _read_pid(pidfile)
        if pid and _alive(pid):
            alive[pidfile.stem] = pid
    return alive


def stop_all(layout: LabLayout, timeout: float = 5.0) -> None:
    """SIGTERM every recorded process (its whole session), then SIGKILL what is left; redis
    last, so its clients (the state daemon, the agent) stop without retrying a gone server."""
    alive = running(layout)
    server = alive.pop(REDIS, None)
    for pids in (list(alive.values()), [server] if server else []):
        for pid in pids:
            _signal_group(pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if _alive(pid):
                _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _read_pid(path: Path) -> Optional[int]:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
