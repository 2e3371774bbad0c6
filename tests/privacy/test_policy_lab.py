"""Acceptance 2 on the lab: the agent (mirror decoding with AF_PACKET on the switch's eth0) with
`privacy.anonymize` on and OTLP's policy raw: each mirrored flow goes raw to the OTLP collector
and anonymised, prefix-preserving, on /metrics."""
from __future__ import annotations

import re
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sonic_agent.privacy.cryptopan import CryptoPAn
from telegen_lab.topology import MGMT_PORT
from tests.conftest import wait_until
from tests.export.otlp_peer import HttpReceiver
from tests.export.prometheus_peer import enter_netns
from tests.privacy.vectors import KEY

METRICS_PORT = 9314


def test_one_flow_raw_to_otlp_and_anonymised_on_metrics(lab, tmp_path):
    key = tmp_path / "privacy.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    pool = ThreadPoolExecutor(1, initializer=enter_netns, initargs=(lab.switch_ns,))
    receiver = pool.submit(HttpReceiver).result().start()  # its socket in the switch's namespace
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)}, "probes": {"enabled": False},
        "mirror": {"enabled": True, "interface": MGMT_PORT, "mode": "afpacket"},
        "privacy": {"key_file": str(key), "anonymize": True},
        "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS_PORT}"},
                   "otlp": {"enabled": True, "protocol": "http", "interval_s": 1.0,
                            "endpoint": f"http://127.0.0.1:{receiver.port}",
                            "privacy": {"anonymize": False}}}}))
    agent = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.switch_ns}", sys.executable, "-m", "sonic_agent",
                              "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             text=True)

    def metrics():
        try:
            text = pool.submit(lambda: requests.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=2).text).result()
        except requests.RequestException:
            return {}
        return {f.name: f for f in text_string_to_metric_families(text)}

    def sample(name):
        family = metrics().get(name)
        return family.samples if family else []

    try:
        running = wait_until(lambda: agent.poll() is not None or
                             any(s.value == 1 for s in sample("telegen_agent_mirror_capture_running")), 30)
        assert running and agent.poll() is None, "agent not capturing on eth0 within 30 s"
        sent = subprocess.run([sys.executable, "-m", "sonic_agent", "lab", "--name", lab.name, "traffic", "--kind",
                               "mirror", "--count", "3", "--interval", "0"], capture_output=True, text=True,
                              timeout=120)
        assert sent.returncode == 0, sent.stderr
        frames = int(re.search(r"sent (\d+) mirror frames", sent.stdout).group(1))
        shown = wait_until(lambda: sum(s.value for s in sample("telegen_flow_packets")) >= frames and
                           sample("telegen_flow_packets"), 15)
        assert shown, "the agent did not count every mirrored frame"

        def raw_flows():
            records = [r for _, request, _ in receiver.of("logs")
                       for r in request.resource_logs[0].scope_logs[0].log_records]
            return len(records) >= len(shown) and records
        records = wait_until(raw_flows, 15)
        assert records, "no flow logs reached the OTLP collector"
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
        receiver.stop()
        pool.shutdown()
    assert agent.returncode == 0, stderr[-2000:]

    pan = CryptoPAn(KEY)
    raw = {(a["source.address"], a["destination.address"], a["telegen.mirror.outer_src"], a["network.transport"])
           for a in ({kv.key: kv.value.string_value for kv in r.attributes} for r in records)}
    anonymised = {(s.labels["src_address"], s.labels["dst_address"], s.labels["outer_src"], s.labels["protocol"])
                  for s in shown}
    assert len(raw) == len(anonymised) == len(shown) == frames // 3
    assert {(*(pan.anonymize(a) for a in flow[:3]), flow[3]) for flow in raw} == anonymised
    assert not {a for flow in raw for a in flow[:3]} & {a for flow in anonymised for a in flow[:3]}
