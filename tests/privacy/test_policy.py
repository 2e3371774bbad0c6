"""Per-exporter privacy policies from a real config file, through the real Prometheus and OTLP
exporters: the same flow raw in OTLP (an on-premises collector) and anonymised on /metrics."""
from __future__ import annotations

import dataclasses

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sonic_agent.config import load_config
from sonic_agent.errors import UserError
from sonic_agent.export.otlp import OtlpExporter
from sonic_agent.export.prometheus import PrometheusExporter
from sonic_agent.privacy.cryptopan import CryptoPAn
from sonic_agent.privacy.policy import Policies
from sonic_agent.records import BgpPeer, ProbeTalker, Row
from tests.conftest import assert_catalogued
from tests.export.otlp_peer import GrpcReceiver
from tests.export.sample import flow, sample_snapshot
from tests.privacy.vectors import KEY

PAN = CryptoPAn(KEY)
EXCLUDED = dataclasses.replace(flow(7), src="203.0.113.9")


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "privacy.key"
    path.write_bytes(KEY)
    path.chmod(0o600)
    return str(path)


def config(tmp_path, document: dict):
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(document))
    return load_config(str(path), environ={})


def test_the_same_flow_is_raw_in_otlp_and_anonymised_in_prometheus(tmp_path, key_file):
    receiver = GrpcReceiver().start()
    cfg = config(tmp_path, {
        "privacy": {"key_file": key_file, "anonymize": True, "exclude": ["203.0.113.0/24"],
                    "hash": ["device.hostname"], "drop": ["port.description"]},
        "export": {"prometheus": {"listen": "127.0.0.1:0"},
                   "otlp": {"enabled": True, "endpoint": f"http://127.0.0.1:{receiver.port}", "interval_s": 3600,
                            "privacy": {"anonymize": False, "exclude": [], "hash": [], "drop": []}}}})
    snap = sample_snapshot(ports=4, flows=3)
    snap = dataclasses.replace(snap, flows=snap.flows + [EXCLUDED])
    policies = Policies.of(cfg)
    assert policies.by_exporter["otlp"] is None  # raw: the feed's Snapshot itself
    prometheus = PrometheusExporter(cfg.export.prometheus, policies.wrap("prometheus", lambda: snap)).start()
    otlp = OtlpExporter(cfg.export.otlp, policies.wrap("otlp", lambda: snap)).start()
    try:
        text = requests.get(f"http://127.0.0.1:{prometheus.port}/metrics", timeout=10).text
        otlp.export_once()
        logs = receiver.wait_for("logs")[0][1]
    finally:
        otlp.stop()
        prometheus.stop()
        receiver.stop()
    metrics = {f.name: f for f in text_string_to_metric_families(text)}
    flows = {s.labels["src_address"]: s.labels for s in metrics["telegen_flow_packets"].samples}
    raw = snap.flows[0]
    assert set(flows) == {PAN.anonymize(f.src) for f in snap.flows[:3]}  # the excluded one left out
    shown = flows[PAN.anonymize(raw.src)]
    assert (shown["dst_address"], shown["outer_src"]) == (PAN.anonymize(raw.dst), PAN.anonymize(raw.outer_src))
    streams = [s.labels for s in metrics["telegen_mirror_packets"].samples]
    assert [(s["outer_src"], s["outer_dst"]) for s in streams] == [(PAN.anonymize("10.0.0.1"), PAN.anonymize("10.0.0.2"))]
    device = metrics["sonic_device_info"].samples[0].labels
    assert device["hostname"] not in ("", "sw1") and len(device["hostname"]) == 16
    assert {s.labels["description"] for s in metrics["sonic_port_info"].samples} == {""}
    agent = {s.name: s.value for f in metrics.values() for s in f.samples if s.name.startswith("telegen_agent_privacy")}
    assert agent["telegen_agent_privacy_flows_excluded"] == 1
    assert agent["telegen_agent_privacy_cache_misses_total"] >= 5
    assert "10.1.0.1" not in text and "sw1" not in text and "to server" not in text

    records = [{a.key: a.value.string_value or a.value.int_value for a in r.attributes}
               for r in logs.resource_logs[0].scope_logs[0].log_records]
    assert [r["source.address"] for r in records] == [f.src for f in snap.flows]  # raw, the excluded one too
    assert records[0]["telegen.mirror.outer_src"] == "10.0.0.1"
    host = {a.key: a.value.string_value for a in logs.resource_logs[0].resource.attributes}["host.name"]
    assert host == "sw1"


def test_addresses_everywhere_are_anonymised_and_identifiers_hashed(tmp_path, key_file):
    cfg = config(tmp_path, {"privacy": {"key_file": key_file, "anonymize": True, "exclude": ["10.0.1.0/24"],
                                        "hash": ["bgp.name", "lldp.system_name"], "drop": ["lldp.port_desc"]}})
    policy = Policies.of(cfg).by_exporter["gnmi"]
    families = {"bgp_state": [Row(("default", "10.9.0.1"), {"bgp.state": "Established"})],
                "bfd_session": [Row(("default", "Ethernet0", "10.9.0.2"), {"bfd.local_addr": "10.9.0.3"})],
                "lldp_neighbor": [Row(("Ethernet0",), {"lldp.system_name": "spine1", "lldp.port_desc": "Eth1/1",
                                                       "lldp.management_address": "10.9.0.4,fe80::1"})]}
    snap = dataclasses.replace(sample_snapshot(ports=2, flows=1), families=families,
                               bgp_peers=[BgpPeer("10.9.0.1", name="spine1")],
                               probe_talkers=[ProbeTalker("Ethernet0", "10.0.0.5", 6, "bgp", 1, 64),
                                              ProbeTalker("Ethernet0", "10.0.1.5", 6, "bgp", 1, 64),
                                              ProbeTalker("Ethernet0", "52:54:00:00:00:01", 0, "lldp", 1, 64)])
    out = policy.apply(snap)
    assert policy.apply(snap) is out  # once per Snapshot and policy
    assert [t.src for t in out.probe_talkers][:1] == [PAN.anonymize("10.0.0.5")]
    assert len(out.probe_talkers) == 2 and out.agent["privacy_talkers_excluded"] == 1
    assert out.probe_talkers[1].src != "52:54:00:00:00:01" and len(out.probe_talkers[1].src) == 16  # a MAC: hashed
    assert out.bgp_peers[0].address == PAN.anonymize("10.9.0.1") and out.bgp_peers[0].name == policy.hashed("spine1")
    assert out.families["bgp_state"][0].key == ("default", PAN.anonymize("10.9.0.1"))
    bfd = out.families["bfd_session"][0]
    assert bfd.key[2] == PAN.anonymize("10.9.0.2") and bfd.values["bfd.local_addr"] == PAN.anonymize("10.9.0.3")
    lldp = out.families["lldp_neighbor"][0].values
    assert lldp == {"lldp.system_name": policy.hashed("spine1"), "lldp.port_desc": "",
                    "lldp.management_address": f"{PAN.anonymize('10.9.0.4')},{PAN.anonymize('fe80::1')}"}
    assert snap.families["lldp_neighbor"][0].values["lldp.system_name"] == "spine1"  # the feed's Snapshot untouched
    assert_catalogued(out.agent)


def test_an_exporter_section_overrides_only_what_it_names(tmp_path, key_file):
    cfg = config(tmp_path, {"privacy": {"key_file": key_file, "anonymize": True},
                            "export": {"prometheus": {"privacy": {"drop": ["port.description"]}}}})
    assert cfg.export.prometheus.privacy.anonymize is True and cfg.export.prometheus.privacy.key_file == key_file
    assert cfg.export.prometheus.privacy.drop == ["port.description"] and cfg.privacy.drop == []


def test_jobs_have_their_own_section_and_the_otlp_policy_for_otlp(tmp_path, key_file):
    """jobs.privacy overrides keys like an exporter's section; a job's OTLP flows take OTLP's."""
    cfg = config(tmp_path, {"privacy": {"key_file": key_file, "anonymize": True},
                            "jobs": {"privacy": {"exclude": ["192.0.2.0/24"]}},
                            "export": {"otlp": {"privacy": {"anonymize": False}}}})
    assert cfg.jobs.privacy.anonymize is True and cfg.jobs.privacy.exclude == ["192.0.2.0/24"]
    policies = Policies.of(cfg)
    assert policies.by_exporter["jobs"].excluded("192.0.2.1") and policies.by_exporter["otlp"] is None
    with pytest.raises(UserError) as err:
        config(tmp_path, {"jobs": {"privacy": {"cache_entries": 0}}})
    assert str(err.value).startswith("config: jobs.privacy.cache_entries: must be")
    with pytest.raises(UserError) as err:
        Policies.of(config(tmp_path, {"jobs": {"privacy": {"anonymize": True}}}))
    assert str(err.value) == "config: jobs.privacy.key_file: required by jobs.privacy.anonymize and jobs.privacy.hash"


@pytest.mark.parametrize("privacy, message", [
    ({"anonymize": True}, "config: privacy.key_file: required by privacy.anonymize and privacy.hash"),
    ({"key_file": "K", "hash": ["device.nickname"]}, "config: privacy.hash[0]: 'device.nickname' is not a text field"),
    ({"exclude": ["10.0.0.0/33"]}, "config: privacy.exclude[0]: must be an IP prefix"),
    ({"key_file": "/nonexistent/key", "anonymize": True}, "privacy.key_file: cannot read /nonexistent/key"),
])
def test_bad_privacy_settings_are_one_line(tmp_path, key_file, privacy, message):
    privacy = {k: (key_file if v == "K" else v) for k, v in privacy.items()}
    with pytest.raises(UserError) as err:
        Policies.of(config(tmp_path, {"privacy": privacy}))
    assert str(err.value).startswith(message)
