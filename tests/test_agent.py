"""The agent daemon end to end on the lab: starts, serves the model's ports, stops cleanly."""
import json
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from telegen_lab.control import DEFAULT_CONFIG_DB

from .conftest import bpftool_net, require_root, wait_until


def _scrape(layout, port):
    cmd = ["ip", "netns", "exec", layout.switch_ns, sys.executable, "-c",
           f"import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:{port}/metrics',timeout=2).read().decode())"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    return result.stdout if result.returncode == 0 else ""


def test_agent_serves_the_lab_and_stops_on_sigterm(lab, tmp_path):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "log_format": "json",
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"enabled": False},
        "export": {"prometheus": {"listen": "127.0.0.1:9311"}},
    }))
    agent = subprocess.Popen(["ip", "netns", "exec", lab.switch_ns, sys.executable, "-m", "sonic_agent", "run",
                              "--config", str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: 'port="Ethernet28"' in _scrape(lab, 9311), 30) is not None, "no ports in 30 s"
        text = _scrape(lab, 9311)
        ports = json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"]
        for port, fields in ports.items():
            assert f'sonic_port_oper_up{{port="{port}",alias="{fields["alias"]}"' in text, port
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
    assert agent.returncode == 0, stderr[-2000:]
    logs = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    messages = [entry["msg"] for entry in logs]
    assert "agent started" in messages and messages[-1] == "agent stopped"
    assert "Traceback" not in stderr


def test_main_job_shows_live_ports_and_ctrl_c_tears_down():
    """`lab run` (what `make lab` runs): every port with live state on screen, then Ctrl-C
    (SIGINT) leaves namespaces, links and processes as they were."""
    require_root()
    from .test_lab import _host_state
    name = "m" + uuid.uuid4().hex[:5]
    before = _host_state(name)
    ports = json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"]
    proc = subprocess.Popen([sys.executable, "-m", "sonic_agent", "lab", "--name", name, "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started, screen, rows = time.monotonic(), [], {}
    try:
        for line in proc.stdout:  # the screen is printed every second (plain lines when not a tty)
            screen.append(line)
            fields = line.split()
            if fields and fields[0] in ports:
                rows[fields[0]] = fields[1:4]
            if all(rows.get(p) == [f["alias"], "up", "up"] for p, f in ports.items()):
                break
            assert time.monotonic() - started < 90, "ports with live state not shown within 90 s"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    assert all(rows.get(p) == [f["alias"], "up", "up"] for p, f in ports.items()), "".join(screen[-30:]) + err
    assert out.rstrip().endswith(f"lab '{name}' torn down"), err[-2000:]
    assert proc.returncode == 0
    assert _host_state(name) == before


def test_show_ports_json_on_the_lab(lab):
    """Issue 3, acceptance 3: every lab port with alias, speed, admin/oper status and ifindex."""
    result = subprocess.run(["ip", "netns", "exec", lab.switch_ns, sys.executable, "-m", "sonic_agent", "show",
                             "ports", "--db-config", str(lab.db_config), "--format", "json"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    shown = {item["name"]: item for item in json.loads(result.stdout)}
    links = json.loads(subprocess.run(["ip", "-n", lab.switch_ns, "-j", "link"], capture_output=True,
                                      text=True, check=True).stdout)
    ifindex = {link["ifname"]: link["ifindex"] for link in links}
    for port, fields in json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"].items():
        item = shown[port]
        assert item["alias"] == fields["alias"]
        assert item["speed_mbps"] == int(fields["speed"])
        assert (item["admin_status"], item["oper_status"]) == ("up", "up")
        assert item["ifindex"] == ifindex[port]


def _attached(layout):
    """Every XDP and TC program on any device of the switch netns."""
    doc = bpftool_net(layout.switch_ns)
    return doc["xdp"] + doc["tc"]


@pytest.mark.parametrize("settings, error", [
    ({"export": {"prometheus": {"listen": "10.9.9.9:9110"}}},
     "export.prometheus.listen: cannot bind 10.9.9.9:9110: Cannot assign requested address"),
    ({"export": {"prometheus": {"listen": "127.0.0.1:99999"}}},
     "config: export.prometheus.listen: port must be 0..65535, got 99999"),
    ({"mirror": {"enabled": True, "interface": "nosuchif"}, "export": {"prometheus": {"listen": "127.0.0.1:0"}}},
     "mirror.interface: nosuchif: no such device"),
])
def test_bad_start_up_value_exits_2_and_leaves_nothing_attached(lab, tmp_path, settings, error):
    """Probes on (they would attach to every lab port): the agent fails with one line naming
    the key, exit 2, no traceback, and no program is left on any device."""
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"log_format": "json", "sonic": {"database_config": str(lab.db_config)},
                                      "probes": {"pin_dir": str(lab.bpf_pin_dir)},
                                      **settings}))
    assert _attached(lab) == []
    result = subprocess.run(["nsenter", f"--net=/run/netns/{lab.switch_ns}", sys.executable, "-m",
                             "sonic_agent", "run", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if not line.startswith("{")] == [f"telegen-sonic: {error}"]
    assert _attached(lab) == []


def test_pipeline_stop_after_a_failed_start_stops_what_started(redis_server):
    """Prometheus cannot bind (the port is taken): start() fails after the model's redis
    followers started, without waiting for a redis that is down; stop() ends the followers and
    the exporter that started."""
    import socket
    import threading

    from sonic_agent.config import AgentConfig, load_config
    from sonic_agent.errors import UserError
    from sonic_agent.pipeline import Pipeline
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    cfg: AgentConfig = load_config(None, environ={
        "TELEGEN_SONIC__DATABASE_CONFIG": str(redis_server.write_database_config()),
        "TELEGEN_PROBES__ENABLED": "false", "TELEGEN_EXPORT__OTLP__ENABLED": "true",
        "TELEGEN_EXPORT__PROMETHEUS__LISTEN": f"127.0.0.1:{taken.getsockname()[1]}"})
    pipeline = Pipeline(cfg)
    pipeline.exporters.reverse()  # prometheus after OTLP: one exporter started, one failed
    redis_server.stop()  # the model cannot sync: the old start order waited 10 s for it first
    try:
        started = time.monotonic()
        with pytest.raises(UserError, match=r"^export\.prometheus\.listen: cannot bind .*: Address already in use$"):
            pipeline.start()
        assert time.monotonic() - started < 5  # not after the model's 10 s sync wait
        assert any(t.name.startswith("sonic-") for t in threading.enumerate())
        assert any(t.name == "otlp-ticker" for t in threading.enumerate())
    finally:
        pipeline.stop()
        taken.close()
    assert not [t.name for t in threading.enumerate() if t.name.startswith(("sonic-", "otlp-", "prometheus"))]
