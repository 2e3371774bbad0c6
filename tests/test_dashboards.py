"""Issue 15, acceptance 6: dashboards/ is the output of its builder (grafana-foundation-sdk), and
every panel's query, with its variables filled in, returns a non-empty result without error
from Debian's Prometheus scraping the agent on the lab (probes, the XDP mirror decoder on eth0,
an SLO; control, mirror and closed-port traffic sent and an uplink flapped, so every family has
series).
Grafana itself is not installable here: the queries are what is checked."""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys

import pytest
import yaml

from telegen_lab.topology import MGMT_PORT
from tests.conftest import REPO, built_in_lab, wait_until
from tests.export.prometheus_peer import PrometheusServer
from tests.probes.conftest import netns

BUILDER = REPO / "dashboards" / "switch_overview.py"
METRICS_PORT = 9133
RATE_INTERVAL = "1m"  # Grafana's $__rate_interval for a 1 s scrape and a short range


def dashboard() -> dict:
    return json.loads((REPO / "dashboards" / "switch-overview.json").read_text())


def test_dashboard_file_is_the_builders_output():
    check = subprocess.run([sys.executable, str(BUILDER), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, "dashboards/switch-overview.json differs: run python dashboards/switch_overview.py"


def panel_queries(board: dict):
    for panel in board["panels"]:
        for target in panel.get("targets", ()):
            yield panel["title"], target["expr"]


def fill(expr: str, values: dict) -> str:
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    return re.sub(r"\$(\w+)", lambda m: values[m.group(1)], expr)


@pytest.fixture(scope="module")
def lab():
    with built_in_lab("d") as layout:
        yield layout


def test_every_panel_query_returns_series_from_prometheus_on_the_lab(lab, tmp_path):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"pin_dir": str(lab.bpf_pin_dir) + "-dash", "top_talker_sample": 1},
        "mirror": {"enabled": True, "interface": MGMT_PORT, "mode": "xdp"},
        "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS_PORT}"}},
        "slo": {"state_dir": str(tmp_path / "slo"), "interval_s": 1,
                "objectives": [{"name": "uplinks", "objective": 0.999, "sli": {"kind": "availability",
                                                                              "ports": ["uplinks"]}}]}}))
    prom = PrometheusServer(tmp_path, f"127.0.0.1:{METRICS_PORT}", netns=lab.switch_ns).start()
    agent = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.switch_ns}", sys.executable, "-m", "sonic_agent", "run",
                              "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        prom.wait(lambda: agent.poll() is not None or prom.query("telegen_agent_mirror_xdp == 1"), 60, "seeing the agent")
        assert agent.poll() is None, agent.stderr.read()[-2000:]
        for kind in ("control", "data"):  # data crosses Ethernet8 and 12: the lab's ASIC mirrors it (everflow0)
            sent = subprocess.run([sys.executable, "-m", "sonic_agent", "lab", "--name", lab.name, "traffic", "--kind",
                                   kind, "--count", "3", "--interval", "0"], capture_output=True, text=True, timeout=120)
            assert sent.returncode == 0, sent.stderr
        with netns(lab.neighbor_ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            for _ in range(20):
                sock.sendto(b"x", ("10.0.0.4", 9))  # Ethernet8's address; nothing listens: no_socket drops
        link = ["ip", "-n", lab.neighbor_ns, "link", "set", "Ethernet0"]
        subprocess.run(link + ["down"], check=True)  # an uplink down: the SLO has a consumer of its budget
        prom.wait(lambda: prom.query('telegen_slo_bad_events_total{slo="uplinks"} > 0'), 20, "counting bad events")
        subprocess.run(link + ["up"], check=True)

        board = dashboard()
        values = {"datasource": "prometheus"}
        for var in board["templating"]["list"]:
            if var["type"] != "query":
                continue
            metric, label = re.fullmatch(r"label_values\((.+), (\w+)\)", var["query"]).groups()
            found = prom.wait(lambda: prom.query(f"group by ({label}) ({fill(metric, values)})"), 30,
                              f"answering variable {var['name']}")
            values[var["name"]] = var["allValue"] if var["includeAll"] else found[0]["metric"][label]
        queries = [(title, fill(expr, values)) for title, expr in panel_queries(board)]
        assert len(queries) >= 20
        empty = lambda: [(t, q) for t, q in queries if not prom.query(q)]  # noqa: E731
        assert wait_until(lambda: not empty(), 60) is not None, empty()
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.communicate(timeout=30)
        prom.stop()
        subprocess.run(["rm", "-rf", str(lab.bpf_pin_dir) + "-dash"], check=False)


def test_variables_and_panels_cover_the_switch():
    board = dashboard()
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert rows == ["Ports", "Rates and errors", "Control plane", "Mirror", "SLOs"]
    titles = {p["title"] for p in board["panels"]}
    assert {"Burn rate, 1 h", "Burn rate, 6 h", "Budget remaining", "Kernel drops by reason",
            "CPU-bound packets by class", "Top mirrored flows", "Mirror sessions"} <= titles
    burn = next(p for p in board["panels"] if p["title"] == "Burn rate, 1 h")
    assert [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 1, 10]
