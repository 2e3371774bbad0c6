"""Issue 5's correlation on the lab: the agent (mirror.mode xdp or afpacket on the switch's eth0)
matches the generator's ERSPAN stream to MIRROR_SESSION everflow0 and scales its flows by
sample_rate. In xdp mode the port probes run too: the decoder owns eth0's XDP hook and the
probes count that port's ingress with TC."""
from __future__ import annotations

import re
import signal
import subprocess
import sys

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab.topology import MGMT_PORT
from tests.conftest import in_netns, wait_until

METRICS_PORT = 9312
SAMPLE_RATE = 100


def families(in_lab) -> dict:
    """The agent's /metrics by family name, {} while it does not answer."""
    try:
        text = in_lab(lambda: requests.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=2).text)
    except requests.RequestException:
        return {}
    return {f.name: f for f in text_string_to_metric_families(text)}


def samples(metrics: dict, name: str) -> dict:
    """A flow family's samples by their labels."""
    family = metrics.get(name)
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples} if family else {}


@pytest.fixture(scope="module")
def everflow_sampled(lab):
    """MIRROR_SESSION everflow0 sampled 1 in SAMPLE_RATE while this module runs."""
    config_db = load_database_config(str(lab.db_config)).connect("CONFIG_DB")
    config_db.hset("MIRROR_SESSION|everflow0", "sample_rate", str(SAMPLE_RATE))
    yield
    config_db.hdel("MIRROR_SESSION|everflow0", "sample_rate")


@pytest.mark.usefixtures("everflow_sampled")
@pytest.mark.parametrize("mode", ["xdp", "afpacket"])
def test_agent_correlates_lab_mirror_traffic_and_scales_by_sample_rate(lab, tmp_path, mode):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"enabled": mode == "xdp", "pin_dir": str(lab.bpf_pin_dir)},
        "mirror": {"enabled": True, "interface": MGMT_PORT, "mode": mode},
        "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS_PORT}"}},
    }))
    agent = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.switch_ns}", sys.executable, "-m", "sonic_agent",
                              "run", "--config", str(config)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    with in_netns(lab.switch_ns) as in_lab:
        try:
            ready = "telegen_agent_mirror_xdp" if mode == "xdp" else "telegen_agent_mirror_capture_running"
            capturing = wait_until(lambda: agent.poll() is not None or samples(families(in_lab), ready).get(()) == 1, 30)
            assert capturing is not None and agent.poll() is None, "agent not capturing on eth0 within 30 s"

            sent = subprocess.run([sys.executable, "-m", "sonic_agent", "lab", "--name", lab.name, "traffic",
                                   "--kind", "mirror", "--count", "3", "--interval", "0"],
                                  capture_output=True, text=True, timeout=120)
            assert sent.returncode == 0, sent.stderr
            frames = int(re.search(r"sent (\d+) mirror frames", sent.stdout).group(1))
            assert frames > 0

            def flows_counted():
                metrics = families(in_lab)
                return sum(samples(metrics, "telegen_flow_packets").values()) >= frames and metrics

            assert wait_until(flows_counted, 10) is not None, "agent did not count every mirrored frame"
            metrics = flows_counted()
        finally:
            agent.send_signal(signal.SIGTERM)
            _, stderr = agent.communicate(timeout=20)
    assert agent.returncode == 0, stderr[-2000:]

    packets, octets = samples(metrics, "telegen_flow_packets"), samples(metrics, "telegen_flow_bytes")
    est_packets = samples(metrics, "telegen_flow_estimated_packets")
    est_octets = samples(metrics, "telegen_flow_estimated_bytes")
    assert len(packets) == frames // 3 and set(packets) == set(octets) == set(est_packets) == set(est_octets)
    for labels, raw in packets.items():
        label = dict(labels)
        assert (label["session"], label["direction"]) == ("everflow0", ""), label  # direction BOTH: unknown
        assert raw == 3, label
        assert est_packets[labels] == SAMPLE_RATE * raw, label
        assert est_octets[labels] == SAMPLE_RATE * octets[labels] > 0, label
    streams = samples(metrics, "telegen_mirror_packets")
    assert [dict(labels)["session"] for labels in streams] == ["everflow0"]
    assert list(streams.values()) == [frames]
    info = samples(metrics, "telegen_mirror_stream_info")  # the stream's status, joined on its keys
    assert [dict(labels)["status"] for labels in info] == ["active"] and set(map(_stream, info)) == set(
        map(_stream, streams))
    if mode == "xdp":
        assert samples(metrics, "telegen_agent_probes_ports_tc_ingress").get(()) == 3  # eth0 + the two bridges


def _stream(labels) -> tuple:
    return tuple(v for k, v in labels if k in ("session", "outer_src", "outer_dst", "gre_proto", "session_id"))
