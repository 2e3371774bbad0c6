"""Acceptance 2 on the lab: the agent (mirror decoding with AF_PACKET on the switch's eth0) with
`privacy.anonymize` on and OTLP's policy raw: each mirrored flow goes raw to the OTLP collector
and anonymised, prefix-preserving, on /metrics."""
from __future__ import annotations

import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sonic_agent.privacy.cryptopan import CryptoPAn
from telegen_lab.topology import MGMT_PORT
from tests.conftest import enter_netns, wait_until
from tests.export.otlp_peer import HttpReceiver
from tests.jobs.lab import Traffic
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

    pan = CryptoPAn(KEY)
    try:
        running = wait_until(lambda: agent.poll() is not None or
                             any(s.value == 1 for s in sample("telegen_agent_mirror_capture_running")), 30)
        assert running and agent.poll() is None, "agent not capturing on eth0 within 30 s"
        traffic = Traffic(lab)  # routed Ethernet0 -> Ethernet8: the lab's ASIC mirrors Ethernet8 (everflow0)
        src, dst = traffic.ip("Ethernet0"), traffic.ip("Ethernet8")
        sports = range(5700, 5705)
        traffic.send([f for sport in sports for f in traffic.frames("Ethernet0", "Ethernet8", "udp", sport, 6700, 2)])
        expected = {(pan.anonymize(src), pan.anonymize(dst), str(sport)) for sport in sports}

        def ours_shown():
            return [s for s in sample("telegen_flow_packets")
                    if (s.labels["src_address"], s.labels["dst_address"], s.labels["src_port"]) in expected]
        shown = wait_until(lambda: len(ours_shown()) == len(expected) and ours_shown(), 15)
        assert shown, "the agent did not show every mirrored flow"

        def raw_flows():
            records = [{kv.key: kv.value for kv in r.attributes} for _, request, _ in receiver.of("logs")
                       for r in request.resource_logs[0].scope_logs[0].log_records]
            ours = [a for a in records if a["source.address"].string_value == src
                    and a["source.port"].int_value in sports]
            return len({a["source.port"].int_value for a in ours}) == len(expected) and ours
        records = wait_until(raw_flows, 15)
        assert records, "the flow logs did not reach the OTLP collector"
        everything_shown = sample("telegen_flow_packets")
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
        receiver.stop()
        pool.shutdown()
    assert agent.returncode == 0, stderr[-2000:]

    raw = {(a["source.address"].string_value, a["destination.address"].string_value,
            a["telegen.mirror.outer_src"].string_value, a["source.port"].int_value) for a in records}
    anonymised = {(s.labels["src_address"], s.labels["dst_address"], s.labels["outer_src"], int(s.labels["src_port"]))
                  for s in shown}
    assert len(raw) == len(anonymised) == len(expected)
    assert {(*(pan.anonymize(a) for a in flow[:3]), flow[3]) for flow in raw} == anonymised
    raw_addresses = {a for flow in raw for a in flow[:3]}
    assert not raw_addresses & {s.labels[k] for s in everything_shown for k in ("src_address", "dst_address",
                                                                                "outer_src", "outer_dst")}
