"""pygnmi, run in its own process by the gNMI tests: one scenario, JSON lines on stdout.

    python -m tests.export.gnmi_client '{"port": ..., "ca": ..., "cert": ..., "key": ...,
                                         "username": ..., "password": ..., "scenario": ...}'

The tests start it with `start(spec)` and read its results with `next_result(proc)`.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from pygnmi.client import gNMIclient, gNMIException

MARK = "@@pygnmi "  # pygnmi logs to stdout too
IFACE = "/interfaces/interface[name=Ethernet0]"


def emit(**fields) -> None:
    print(MARK + json.dumps(fields, default=str), flush=True)


def start(spec: dict, prefix=()) -> subprocess.Popen:
    """This module in its own process (under `prefix`, e.g. `ip netns exec NS`)."""
    return subprocess.Popen([*prefix, sys.executable, "-m", "tests.export.gnmi_client", json.dumps(spec)],
                            cwd=Path(__file__).resolve().parents[2], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def next_result(proc: subprocess.Popen) -> dict:
    """The next result line the client emitted (its stderr tail if it ended first)."""
    while True:
        line = proc.stdout.readline()
        assert line, proc.stderr.read()[-3000:]
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])


def main(spec: dict) -> None:
    tls = {"path_root": spec["ca"], "path_cert": spec["cert"], "path_key": spec["key"]} if spec.get("key") else \
        {"path_cert": spec["ca"]} if spec.get("ca") else {"insecure": True}
    client = gNMIclient(target=("localhost", spec["port"]), username=spec["username"], password=spec["password"],
                        gnmi_timeout=10, **tls)
    try:
        client.connect()
    except gNMIException as exc:
        emit(error=exc.orig_exc.code().name if hasattr(exc.orig_exc, "code") else repr(exc))
        return
    scenario = spec["scenario"]
    if scenario == "capabilities":
        emit(result=client.capabilities())
    elif scenario == "get":
        emit(json_ietf=client.get(path=[f"{IFACE}/state/counters", "/telegen/probes/probe[class=bgp]"],
                                  encoding="json_ietf"),
             json=client.get(path=["openconfig-interfaces:interfaces/interface[name=Ethernet4]/state/oper-status"],
                             encoding="json"))
        try:
            client.get(path=["/interfaces/interface[name=Ethernet999]"], encoding="json")
        except gNMIException as exc:
            emit(missing=exc.orig_exc.code().name)
    elif scenario == "get_paths":
        emit(json_ietf=client.get(path=spec["paths"], encoding="json_ietf"))
    elif scenario == "once":
        sub = client.subscribe2(subscribe={"mode": "once", "encoding": "json_ietf", "subscription": [
            {"path": f"{IFACE}/state/counters/in-octets"}, {"path": "/telegen/flows"}]})
        emit(updates=list(sub))
    elif scenario == "poll":
        sub = client.subscribe2(subscribe={"mode": "poll", "encoding": "json", "subscription": [
            {"path": f"{IFACE}/state/counters/in-octets"}]})
        for i in range(3):
            if i:
                sys.stdin.readline()  # the test changes the model after the first poll, then says so (or closes)
            emit(poll=sub.get_update(timeout=5), at=time.time())
        sub.close()
    elif scenario == "sample":
        sub = client.subscribe2(subscribe={"mode": "stream", "encoding": "json_ietf", "subscription": [
            {"path": f"{IFACE}/state/counters/in-octets", "mode": "sample", "sample_interval": 1_000_000_000}]})
        for _ in range(3):
            emit(update=sub.get_update(timeout=5), at=time.time())
        sub.close()
    elif scenario in ("on_change", "watch"):
        path = spec.get("path", "/interfaces/interface/state/oper-status")
        sub = client.subscribe2(subscribe={"mode": "stream", "encoding": "json_ietf", "subscription": [
            {"path": path, "mode": "on_change"}]})
        emit(initial=sub.get_update(timeout=5), at=time.time())
        emit(change=sub.get_update(timeout=10), at=time.time())
        sub.close()
    client.close()


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
