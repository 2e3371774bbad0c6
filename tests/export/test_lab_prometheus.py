"""Issue 6 on the lab: the agent runs in the virtual switch's namespace, Debian's Prometheus
scrapes it from that namespace, and pygnmi (its own process, same namespace) subscribes.

Acceptance 1: target up; per-port series with the model's labels; a port deleted from
CONFIG_DB goes stale; `promtool check metrics` is clean. LAG and VLAN families follow the
lab's link state. And acceptance 3's timing on the lab: a link going down on the neighbor side reaches a gNMI ON_CHANGE subscriber within 1 s
of the lab's state daemon writing STATE_DB.
"""
from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import requests
import yaml

from telegen_lab.control import DEFAULT_CONFIG_DB
from sonic_agent.sonic.dbconfig import load_database_config
from tests.conftest import require, wait_until
from tests.export.gnmi_client import next_result, start
from tests.export.prometheus_peer import PrometheusServer

METRICS_PORT, GNMI_PORT = 9110, 50051
LAB_PORTS = json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"]


@pytest.fixture(scope="module")
def agent(lab, in_lab, tmp_path_factory):
    config = tmp_path_factory.mktemp("agent") / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"enabled": False},
        "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS_PORT}"},
                   "gnmi": {"enabled": True, "listen": f"127.0.0.1:{GNMI_PORT}"}},
    }))
    proc = subprocess.Popen(["ip", "netns", "exec", lab.switch_ns, sys.executable, "-m", "sonic_agent", "run",
                             "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: proc.poll() is not None or 'port="Ethernet28"' in metrics(in_lab), 30), "no ports in 30 s"
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)


NODE_EXPORTER_NAME = re.compile(r"node_memory_\w+_bytes metric names should be written in 'snake_case' not "
                                r"'camelCase'")


def metrics(in_lab) -> str:
    try:
        return in_lab(lambda: requests.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=2).text)
    except requests.ConnectionError:
        return ""


def redis_db(lab, name):
    return load_database_config(str(lab.db_config)).connect(name)


def test_prometheus_scrapes_the_lab_and_a_deleted_port_goes_stale(lab, agent, in_lab, tmp_path):
    require(shutil.which("promtool") is not None, "needs promtool (apt-get install prometheus)")
    check = subprocess.run(["promtool", "check", "metrics"], input=metrics(in_lab), capture_output=True, text=True)
    complaints = [line for line in (check.stdout + check.stderr).splitlines()
                  if not NODE_EXPORTER_NAME.fullmatch(line)]  # node_exporter's own names, kept for its dashboards
    assert not complaints, complaints

    prom = PrometheusServer(tmp_path, f"127.0.0.1:{METRICS_PORT}", netns=lab.switch_ns).start()
    try:
        up = prom.wait(lambda: [t for t in prom.targets() if t["health"] == "up"], 20, "scraping the agent")
        assert up[0]["scrapeUrl"] == f"http://127.0.0.1:{METRICS_PORT}/metrics"
        series = prom.wait(lambda: prom.query('sonic_port_oper_up{namespace=""}'), 10, "returning port series")
        aliases = {s["metric"]["port"]: s["metric"].get("alias") for s in series}  # empty labels are absent
        assert {p: aliases.get(p) for p in LAB_PORTS} == {p: f["alias"] for p, f in LAB_PORTS.items()}
        assert {s["value"][1] for s in series if s["metric"]["port"] in LAB_PORTS} == {"1"}
        assert prom.query('sonic_port_bytes_total{port="Ethernet12",alias="%s",direction="tx"}'
                          % LAB_PORTS["Ethernet12"]["alias"])

        redis_db(lab, "CONFIG_DB").delete("PORT|Ethernet12")
        prom.wait(lambda: not prom.query('{port="Ethernet12"}'), 15, "marking every Ethernet12 series stale")
        assert prom.query('sonic_port_oper_up{port="Ethernet8"}')
        assert prom.query('up{job="telegen"}')[0]["value"][1] == "1"
    finally:
        prom.stop()


def test_lag_and_vlan_families_follow_the_lab(lab, agent, tmp_path):
    """PortChannel0001 (Ethernet16, Ethernet20) and Vlan1000 (Ethernet24, Ethernet28, untagged)
    in the lab's CONFIG_DB; the state daemon disables a LAG member whose link goes down."""
    prom = PrometheusServer(tmp_path, f"127.0.0.1:{METRICS_PORT}", netns=lab.switch_ns).start()

    def members():
        return {s["metric"]["port"]: s["value"][1]
                for s in prom.query('sonic_lag_member_enabled{lag="PortChannel0001"}')}

    try:
        prom.wait(lambda: members() == {"Ethernet16": "1", "Ethernet20": "1"}, 20, "showing both members enabled")
        assert prom.query('sonic_lag_members{port="PortChannel0001"}')[0]["value"][1] == "2"
        assert prom.query('sonic_port_oper_up{port="PortChannel0001"}')[0]["value"][1] == "1"
        assert {(s["metric"]["port"], s["metric"]["tagging_mode"]) for s in prom.query(
            'sonic_vlan_member_info{vlan="Vlan1000"}')} == {("Ethernet24", "untagged"), ("Ethernet28", "untagged")}

        subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", "Ethernet20", "down"], check=True)
        prom.wait(lambda: members() == {"Ethernet16": "1", "Ethernet20": "0"}, 10, "showing Ethernet20 disabled")
        assert prom.query('sonic_port_oper_up{port="PortChannel0001"}')[0]["value"][1] == "1"  # one member left
    finally:
        subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", "Ethernet20", "up"], check=False)
        prom.stop()


def test_gnmi_on_change_within_one_second_of_the_lab_state_db(lab, agent):
    port, state_db = "Ethernet8", redis_db(lab, "STATE_DB")
    events = state_db.pubsub(ignore_subscribe_messages=True)
    state_db_id = load_database_config(str(lab.db_config)).db("STATE_DB").id
    events.subscribe(f"__keyspace@{state_db_id}__:PORT_TABLE|{port}")
    spec = {"port": GNMI_PORT, "username": "", "password": "", "scenario": "watch",
            "path": f"/telegen/ports/port[name={port}]/state/netdev-oper-status"}
    proc = start(spec, prefix=("ip", "netns", "exec", lab.switch_ns))
    try:
        assert next_result(proc)["initial"]["update"]["update"] == [
            {"path": f"telegen/ports/port[name={port}]/state/netdev-oper-status", "val": "UP"}]
        subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", port, "down"], check=True)
        assert next_event(events, 5) == "hset"  # the state daemon writing the link state
        written_at = time.time()
        assert state_db.hget(f"PORT_TABLE|{port}", "netdev_oper_status") == "down"
        change = next_result(proc)
        assert change["change"]["update"]["update"] == [
            {"path": f"telegen/ports/port[name={port}]/state/netdev-oper-status", "val": "DOWN"}]
        assert change["at"] - written_at < 1.0
    finally:
        proc.kill()
        proc.wait()
        events.close()
        subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", port, "up"], check=False)


def next_event(pubsub, timeout: float):
    deadline = time.time() + timeout
    while time.time() < deadline:
        message = pubsub.get_message(timeout=0.1)
        if message is not None:
            return message["data"]
    return None

