"""The job API and manager on a real redis holding the lab's CONFIG_DB, over real HTTP: what a
job writes (in SONiC's terms), every refusal naming its field with nothing written, 401, 429,
DELETE, expiry, retention, the journal after a crash. Snapshots are built here (the mirror
decoder's part runs in tests/jobs/test_jobs_lab.py, on the lab)."""
from __future__ import annotations

import dataclasses
import json
import time

import pytest
import requests

from sonic_agent.config import JobsConfig, PrivacyConfig, ServerTlsConfig
from sonic_agent.errors import UserError
from sonic_agent.jobs.api import JobApi
from sonic_agent.jobs.manager import JobManager
from sonic_agent.jobs.openapi import DOCUMENT, FILTER
from sonic_agent.jobs.spec import FILTER_FIELDS
from sonic_agent.privacy.cryptopan import Anonymizer, CryptoPAn
from sonic_agent.privacy.policy import PrivacyPolicy
from sonic_agent.records import FlowRecord, MirrorSessionStats, Snapshot
from sonic_agent.sonic.dbconfig import load_database_config, load_namespaces
from sonic_agent.sonic.encoding import load_dump
from sonic_agent.sonic.model import SwitchModel
from telegen_lab.control import DEFAULT_CONFIG_DB
from tests.conftest import assert_catalogued, wait_until
from tests.export.certs import make_certs
from tests.privacy.vectors import KEY

TOKEN = "t0ken"
STREAM = ("10.1.0.1", "10.250.0.2", 0x22EB)


class Feed:
    """Stands for the pipeline's SnapshotFeed: the current Snapshot, set by the test."""

    def __init__(self):
        self.snapshot = Snapshot(timestamp=time.time())

    def __call__(self) -> Snapshot:
        return self.snapshot


@pytest.fixture
def switch(redis_server, tmp_path):
    path = redis_server.write_database_config()
    config = load_database_config(str(path))
    load_dump(config.connect("CONFIG_DB"), json.loads(DEFAULT_CONFIG_DB.read_text()))
    model = SwitchModel.from_paths(str(path))
    model.start()
    assert model.wait_synced(10)
    yield path, model, config.connect("CONFIG_DB")
    model.stop()


def make_api(switch, tmp_path, feed, privacy=None, **overrides):
    path, model, _ = switch
    settings = dict(enabled=True, listen="127.0.0.1:0", token=TOKEN, journal=str(tmp_path / "journal.json"))
    cfg = JobsConfig(**{**settings, **overrides})
    manager = JobManager(cfg, model, load_namespaces(str(path)), feed, "10.250.0.2", drain_s=0.2, privacy=privacy)
    assert manager.remove_leftovers()
    manager.start()
    return JobApi(cfg, manager).start()


@pytest.fixture
def api(switch, tmp_path):
    feed = Feed()
    api = make_api(switch, tmp_path, feed)
    api.feed = feed
    yield api
    api.stop()
    api.manager.stop()


def call(api, method, path="", body=None, token=TOKEN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, f"http://127.0.0.1:{api.port}/v1/monitor/jobs{path}", json=body,
                            headers=headers, timeout=10)


def config_db(client) -> dict:
    return {key: client.hgetall(key) for key in client.keys("*")}


def test_a_port_mirror_is_a_mirror_session_in_sonics_terms(api, switch):
    _, _, db = switch
    created = call(api, "POST", body={"port": "etp1", "direction": "ingress", "duration_sec": 30, "sample_rate": 4})
    assert created.status_code == 201, created.text
    job = created.json()
    assert (job["port"], job["interface"], job["status"]) == ("Ethernet0", "Ethernet0", "running")
    key = f"MIRROR_SESSION|telegen-job-{job['job_id']}"
    assert job["config_db_keys"] == [key]
    assert db.hgetall(key) == {"type": "ERSPAN", "src_ip": "10.1.0.1", "dst_ip": "10.250.0.2", "gre_type": "0x22eb",
                               "dscp": "8", "ttl": "255", "src_port": "Ethernet0", "direction": "RX",
                               "sample_rate": "4"}
    assert call(api, "GET", f"/{job['job_id']}").json()["status"] == "running"
    stopped = call(api, "DELETE", f"/{job['job_id']}")
    assert stopped.status_code == 200 and stopped.json() == {"job_id": job["job_id"], "status": "stopping"}
    assert not db.exists(key)
    assert wait_until(lambda: call(api, "GET", f"/{job['job_id']}").json()["status"] == "stopped")
    assert json.loads(open(api.cfg.journal).read())["jobs"] == {}


def test_filters_are_an_everflow_acl_table_per_stage_with_a_rule_each(api, switch):
    _, _, db = switch
    body = {"port": "PortChannel0001", "filters": [
        {"protocol": "udp", "dst_port": 53, "src_prefix": "10.0.0.0/24"},
        {"dst_prefix": "fc00::/64", "protocol": "tcp", "tcp_flags": "SYN", "src_port": "1000-2000"}], "vlan": 1000}
    job = call(api, "POST", body=body).json()
    tag = job["job_id"].upper()
    session = f"telegen-job-{job['job_id']}"
    assert db.hgetall(f"MIRROR_SESSION|{session}") == {
        "type": "ERSPAN", "src_ip": "10.1.0.1", "dst_ip": "10.250.0.2", "gre_type": "0x22eb", "dscp": "8", "ttl": "255"}
    for stage, suffix, action in (("ingress", "IN", "MIRROR_INGRESS_ACTION"), ("egress", "OUT", "MIRROR_EGRESS_ACTION")):
        assert db.hgetall(f"ACL_TABLE|TELEGEN_JOB_{tag}_{suffix}") == {
            "type": "MIRROR", "stage": stage, "ports@": "PortChannel0001", "policy_desc": f"telegen-sonic job {job['job_id']}"}
        assert db.hgetall(f"ACL_TABLE|TELEGEN_JOB_{tag}_{suffix}_V6")["type"] == "MIRRORV6"
        assert db.hgetall(f"ACL_RULE|TELEGEN_JOB_{tag}_{suffix}|RULE_1") == {
            "PRIORITY": "9999", action: session, "SRC_IP": "10.0.0.0/24", "IP_PROTOCOL": "17", "L4_DST_PORT": "53",
            "VLAN_ID": "1000"}
        assert db.hgetall(f"ACL_RULE|TELEGEN_JOB_{tag}_{suffix}_V6|RULE_1") == {
            "PRIORITY": "9999", action: session, "DST_IPV6": "fc00::/64", "IP_PROTOCOL": "6",
            "L4_SRC_PORT_RANGE": "1000-2000", "VLAN_ID": "1000", "TCP_FLAGS": "0x02/0x02"}
    assert len(job["config_db_keys"]) == 9
    # a member of the PortChannel is now mirrored (through its PortChannel)
    assert "mirrored already" in call(api, "POST", body={"port": "PortChannel0001"}).json()["message"]
    call(api, "DELETE", f"/{job['job_id']}")
    assert not [k for k in db.keys("*") if "JOB" in k.upper()]


def test_span_writes_a_span_session_to_the_configured_port(switch, tmp_path):
    _, _, db = switch
    api = make_api(switch, tmp_path, Feed(), span_port="Ethernet28")
    try:
        job = call(api, "POST", body={"port": "Ethernet0", "span_method": "span", "direction": "egress"}).json()
        assert db.hgetall(f"MIRROR_SESSION|telegen-job-{job['job_id']}") == {
            "type": "SPAN", "dst_port": "Ethernet28", "src_port": "Ethernet0", "direction": "TX"}
    finally:
        api.stop()
        api.manager.stop()


@pytest.mark.parametrize("body, message", [
    ({"port": "Ethernet99"}, "port: unknown port 'Ethernet99'"),
    ({"port": "Ethernet16"}, "port: Ethernet16 is a member of PortChannel0001; mirror PortChannel0001"),
    ({"port": "Ethernet8"}, "port: Ethernet8 is mirrored already (MIRROR_SESSION everflow0)"),
    ({"port": "Ethernet0", "duration_sec": 0}, "duration_sec: must be > 0, got 0"),
    ({"port": "Ethernet0", "duration_sec": -5}, "duration_sec: must be > 0, got -5"),
    ({"port": "Ethernet0", "duration_sec": 3601}, "duration_sec: must be <= 3600 (jobs.max_duration_s), got 3601"),
    ({"port": "Ethernet0", "filters": {"dscp": 8}}, "filters[0].dscp: unknown filter"),
    ({"port": "Ethernet0", "filters": [{"src_prefix": "10.0.0/8"}]}, "filters[0].src_prefix: not an IP prefix: '10.0.0/8'"),
    ({"port": "Ethernet0", "filters": {"dst_prefix": "10.0.0.300/32"}}, "filters[0].dst_prefix: not an IP prefix"),
    ({"port": "Ethernet0", "filters": {"protocol": "gre", "dst_port": 1}}, "filters[0].protocol: must be icmp"),
    ({"port": "Ethernet0", "filters": {"dst_port": 70000}}, "filters[0].dst_port: must be within 0..65535"),
    ({"port": "Ethernet0", "filters": {"tcp_flags": "SYN,FOO"}}, "filters[0].tcp_flags: must be flag names"),
    ({"port": "Ethernet0", "direction": "sideways"}, "direction: must be one of ingress, egress, both"),
    ({"port": "Ethernet0", "span_method": "span"}, "span_method: span needs jobs.span_port"),
    ({"port": "Ethernet0", "otlp_export": True}, "otlp_export: export.otlp is not enabled"),
    ({"port": "Ethernet0", "sample_rate": 0}, "sample_rate: must be 1..1048576, got 0"),
    ({"port": "Ethernet0", "colour": "blue"}, "colour: unknown field"),
    ({}, "port: required"),
    ([1, 2], "request body: must be a JSON object"),
])
def test_each_bad_request_is_400_naming_the_field_and_writes_nothing(api, switch, body, message):
    _, _, db = switch
    before = config_db(db)
    answer = call(api, "POST", body=body)
    assert answer.status_code == 400 and answer.json()["error"] == "bad_request"
    assert answer.json()["message"].startswith(message), answer.json()["message"]
    assert config_db(db) == before


def test_no_token_is_401_and_writes_nothing(api, switch):
    _, _, db = switch
    before = config_db(db)
    for token in (None, "wrong"):
        answer = call(api, "POST", body={"port": "Ethernet0"}, token=token)
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"] == "Bearer"
        assert call(api, "GET", token=token).status_code == 401
    assert config_db(db) == before
    doc = requests.get(f"http://127.0.0.1:{api.port}/v1/openapi.json", timeout=5).json()  # no token needed
    assert doc == json.loads(json.dumps(DOCUMENT)) and set(FILTER["properties"]) == set(FILTER_FIELDS)


def test_a_third_concurrent_job_is_429_and_writes_nothing(api, switch):
    _, _, db = switch
    jobs = [call(api, "POST", body={"port": port}).json()["job_id"] for port in ("Ethernet0", "Ethernet4")]
    before = config_db(db)
    answer = call(api, "POST", body={"port": "Ethernet28"})
    assert answer.status_code == 429 and "max_concurrent_jobs" in answer.json()["message"]
    assert config_db(db) == before
    counters = api.manager.agent_counters()
    assert_catalogued(counters)
    assert (counters["jobs_running"], counters["jobs_created_total"], counters["jobs_limited_total"]) == (2, 2, 1)
    for job_id in jobs:
        call(api, "DELETE", f"/{job_id}")


def flow(port_index: int, packets: int, sport: int = 5000, session_id: int = 7) -> FlowRecord:
    return FlowRecord(erspan_type=3, session_id=session_id, direction="rx", vlan=None, src="10.0.0.1",
                      dst="10.0.0.5", proto=17, sport=sport, dport=53, packets=packets, bytes=100 * packets,
                      outer_src=STREAM[0], outer_dst=STREAM[1], gre_proto=STREAM[2], port_index=port_index)


def test_results_count_from_the_baseline_and_the_job_expires(api, switch):
    """Counts are the decoder's since the job began: a flow that had 5 packets before counts from
    there; a flow of another port (index 2) is not the job's; a flow evicted and back keeps
    what it had counted; loss is the sequence gaps of the job's session ids since then."""
    _, _, db = switch
    api.feed.snapshot = Snapshot(timestamp=time.time(), watched_flows=[flow(1, 5)],
                                 sessions=[MirrorSessionStats(*STREAM, 7, 5, 3, 0)])
    job = call(api, "POST", body={"port": "Ethernet0", "duration_sec": 0.5, "sample_rate": 10}).json()
    manager = api.manager
    manager.on_snapshot(Snapshot(timestamp=time.time(), watched_flows=[flow(1, 12), flow(2, 40), flow(1, 3, 6000)],
                                 sessions=[MirrorSessionStats(*STREAM, 7, 20, 4, 0)]))
    manager.on_snapshot(Snapshot(timestamp=time.time(), watched_flows=[flow(1, 2), flow(1, 3, 6000)],
                                 sessions=[MirrorSessionStats(*STREAM, 7, 22, 5, 0)]))
    assert wait_until(lambda: call(api, "GET", f"/{job['job_id']}").json()["status"] == "completed", 5)
    assert not db.exists(f"MIRROR_SESSION|telegen-job-{job['job_id']}")
    results = call(api, "GET", f"/{job['job_id']}/results").json()
    assert results["complete"] and results["status"] == "completed"
    flows = {(f["src_port"], f["pkts"], f["estimated_packets"], tuple(f["source_ports"])) for f in results["top_flows"]}
    assert flows == {(5000, 7 + 2, 90, ("Ethernet0",)), (6000, 3, 30, ("Ethernet0",))}
    assert (results["packets_total"], results["errors"]["mirror_loss"]) == (12, 2)
    assert results["top_flows"][0]["five_tuple"] == "udp 10.0.0.1:5000 -> 10.0.0.5:53"
    assert "packets" not in results and "packets" in call(api, "GET", f"/{job['job_id']}/results?detail=pcaplike").json()
    assert call(api, "GET", f"/{job['job_id']}/results?detail=everything").json()["message"].startswith("detail:")
    assert call(api, "DELETE", f"/{job['job_id']}").status_code == 200  # an ended job: forgotten
    assert call(api, "GET", f"/{job['job_id']}").status_code == 404


def test_results_obey_the_jobs_privacy_policy(switch, tmp_path):
    """jobs.privacy: flows in an excluded prefix are left out before the top-K is chosen
    (counted), the others' addresses anonymised; the OTLP path has its own policy (test_policy)."""
    feed = Feed()
    policy = PrivacyPolicy(PrivacyConfig(anonymize=True, exclude=["192.0.2.0/24"]), "jobs.privacy",
                           Anonymizer(KEY, 64), None)
    api = make_api(switch, tmp_path, feed, privacy=policy)
    try:
        job = call(api, "POST", body={"port": "Ethernet0", "duration_sec": 30, "topk_flows": 1}).json()
        excluded = dataclasses.replace(flow(1, 50, sport=6000), dst="192.0.2.9")  # the biggest flow
        api.manager.on_snapshot(Snapshot(timestamp=time.time(), watched_flows=[flow(1, 3), excluded]))
        results = call(api, "GET", f"/{job['job_id']}/results").json()
        pan = CryptoPAn(KEY)
        assert [(f["src"], f["dst"], f["src_port"], f["pkts"]) for f in results["top_flows"]] == [
            (pan.anonymize("10.0.0.1"), pan.anonymize("10.0.0.5"), 5000, 3)]
        assert results["errors"]["flows_excluded"] == 1 and results["packets_total"] == 53
        assert "10.0.0.1" not in json.dumps(results)
    finally:
        api.stop()
        api.manager.stop()


def test_ended_jobs_are_kept_for_a_bounded_count(switch, tmp_path):
    api = make_api(switch, tmp_path, Feed(), keep_results=2)
    try:
        ids = []
        for _ in range(3):
            ids.append(call(api, "POST", body={"port": "Ethernet0", "duration_sec": 0.2}).json()["job_id"])
            assert wait_until(lambda: call(api, "GET", f"/{ids[-1]}").json().get("status") == "completed", 5)
        assert [j["job_id"] for j in call(api, "GET").json()["jobs"]] == ids[1:]
    finally:
        api.stop()
        api.manager.stop()


def test_the_next_start_removes_what_a_killed_instance_left(switch, tmp_path):
    """An instance that never stopped (as after SIGKILL): its journal and its prefixed keys are
    removed by the next one's start, and a stray prefixed key with no journal entry too."""
    _, _, db = switch
    first = make_api(switch, tmp_path, Feed())
    job = call(first, "POST", body={"port": "Ethernet0", "filters": {"protocol": "udp"}}).json()
    first.stop()  # the server only: the manager is left as a killed one would be
    db.hset("ACL_RULE|TELEGEN_JOB_DEADBEEF_IN|RULE_1", "PRIORITY", "1")
    assert len(json.loads((tmp_path / "journal.json").read_text())["jobs"][job["job_id"]]["keys"]) == 5
    second = make_api(switch, tmp_path, Feed())
    try:
        assert not [k for k in db.keys("*") if "JOB" in k.upper()]
        assert second.manager.agent_counters()["jobs_leftovers_removed_total"] == 6
        assert json.loads((tmp_path / "journal.json").read_text())["jobs"] == {}
        assert db.exists("MIRROR_SESSION|everflow0")
    finally:
        second.stop()
        second.manager.stop()


def test_mtls_stands_for_the_token_and_plain_http_is_loopback_only(switch, tmp_path):
    certs = make_certs(tmp_path)
    tls = ServerTlsConfig(cert=certs.server_cert, key=certs.server_key, client_ca=certs.ca)
    api = make_api(switch, tmp_path, Feed(), token=None, tls=tls)
    url = f"https://127.0.0.1:{api.port}/v1/monitor/jobs"
    try:
        answer = requests.get(url, cert=(certs.client_cert, certs.client_key), verify=certs.ca, timeout=10)
        assert answer.status_code == 200 and answer.json() == {"jobs": []}
        with pytest.raises(requests.exceptions.SSLError):  # no client certificate: no handshake
            requests.get(url, verify=certs.ca, timeout=10)
    finally:
        api.stop()
        api.manager.stop()
    with pytest.raises(UserError, match="jobs.listen: 0.0.0.0:0: plain HTTP only on loopback"):
        JobApi(JobsConfig(enabled=True, listen="0.0.0.0:0", token=TOKEN), api.manager)
    with pytest.raises(UserError, match="jobs.token: required"):
        JobApi(JobsConfig(enabled=True), api.manager)
