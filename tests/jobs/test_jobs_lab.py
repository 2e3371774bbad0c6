"""Issue 14's acceptance on the lab: mirror jobs through the agent's API, the lab's ASIC mirror
copying the real frames that cross its ports, the XDP decoder on eth0 counting them.

Every flow a test checks is traffic the test sent through the switch (routed between two
neighbors); the counts must be exact. Other frames the kernel itself sends across a port
while a job runs (ARP, IPv6 neighbor discovery) are allowed only as what they are."""
from __future__ import annotations

import os
import struct
import subprocess
import time
from datetime import datetime

import pytest

from telegen_lab.topology import MGMT_PORT
from tests.conftest import built_in_lab, require, wait_until
from tests.export.otlp_peer import HttpReceiver
from tests.jobs.lab import LabAgent, Traffic, flow_counts, ip_bytes
from tests.mirror.live import Capture
from tests.probes.conftest import netns

SNAP, CAP_BYTES = 128, 24 + 50 * (16 + 128)  # a capture keeps 50 frames of 128 bytes


@pytest.fixture(scope="module")
def agent(lab, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("jobs-agent")
    with netns(lab.switch_ns):
        receiver = HttpReceiver().start()  # its socket in the switch namespace, where the agent sends
    agent = LabAgent(lab, workdir, snap_len=SNAP, capture_bytes=CAP_BYTES, export={"otlp": {
        "enabled": True, "protocol": "http", "endpoint": f"http://127.0.0.1:{receiver.port}", "interval_s": 3600}})
    agent.start()
    agent.otlp = receiver
    traffic = Traffic(lab)
    warm = [f for src, dst in (("Ethernet4", "Ethernet0"), ("Ethernet0", "Ethernet8"), ("Ethernet4", "Ethernet8"))
            for f in traffic.frames(src, dst, "udp", 9, 9, 1)]
    traffic.send(warm)  # the switch resolves its neighbors before any job counts
    assert wait_until(lambda: traffic.neighbors_resolved([traffic.ip("Ethernet0"), traffic.ip("Ethernet8")]), 10)
    agent.traffic = traffic
    yield agent
    agent.close()
    receiver.stop()


def state(agent, session: str):
    return agent.state_db.hget(f"MIRROR_SESSION_TABLE|{session}", "status")


def start_job(agent, body: dict) -> dict:
    answer = agent.call("POST", body=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def copies(capture: Capture, gre_proto: int) -> int:
    """ERSPAN copies of one GRE protocol among the frames captured since the last call."""
    frames, _ = capture.drain()
    return sum(1 for f in frames if len(f) > 38 and f[23] == 47 and struct.unpack_from("!H", f, 36)[0] == gre_proto)


def test_a_port_job_reports_exactly_the_flows_that_crossed_the_port(agent):
    """Acceptance 1: Ethernet0, both directions, 20 s."""
    t = agent.traffic
    job = start_job(agent, {"port": "Ethernet0", "direction": "both", "duration_sec": 20})
    created = time.monotonic()
    session = job["mirror_session"]
    assert agent.config_db.hgetall(f"MIRROR_SESSION|{session}")["src_port"] == "Ethernet0"
    assert wait_until(lambda: state(agent, session) == "active", 1.0), "STATE_DB not active within 1 s"
    assert time.monotonic() - created < 1.0
    to_port = t.frames("Ethernet4", "Ethernet0", "udp", 5101, 6101, 40)  # leaves Ethernet0: egress
    from_port = t.frames("Ethernet0", "Ethernet8", "tcp", 7101, 443, 30, size=300)  # enters Ethernet0: ingress
    elsewhere = t.frames("Ethernet4", "Ethernet8", "udp", 5102, 6102, 25)  # never crosses Ethernet0
    t.send(to_port + from_port + elsewhere)
    agent.wait_status(job["job_id"], "completed", 30)
    results = agent.call("GET", f"/{job['job_id']}/results").json()
    assert flow_counts(results) == {
        (t.ip("Ethernet4"), t.ip("Ethernet0"), 17, 5101, 6101, "egress"): (40, ip_bytes(to_port)),
        (t.ip("Ethernet0"), t.ip("Ethernet8"), 6, 7101, 443, "ingress"): (30, ip_bytes(from_port))}
    assert {f["protocol"] for f in results["top_flows"]} <= {6, 17, 58}  # 58: the kernel's own ND
    assert all(f["source_ports"] == ["Ethernet0"] and f["session"] == session for f in results["top_flows"])
    assert results["errors"]["mirror_loss"] == 0 and results["complete"]
    # at expiry the session is gone, and the lab stops mirroring Ethernet0 (what its ASIC sends to eth0)
    assert not agent.job_keys()
    assert wait_until(lambda: state(agent, session) is None, 2)
    capture = Capture(agent.layout.neighbor_ns, MGMT_PORT, outgoing=True)
    try:
        t.send(t.frames("Ethernet0", "Ethernet8", "udp", 5103, 6103, 20))  # Ethernet8 is everflow0's (0x88be):
        assert wait_until(lambda: copies(capture, 0x88BE) and True, 5)  # its copies say the frames crossed
        assert copies(capture, 0x22EB) == 0
    finally:
        capture.close()


def test_a_filtered_job_is_an_acl_and_reports_only_matching_flows(agent):
    """Acceptance 2: UDP to port 53 only; the rest of the traffic still crosses the port."""
    t = agent.traffic
    job = start_job(agent, {"port": "Ethernet0", "filters": {"protocol": "udp", "dst_port": 53}, "duration_sec": 6})
    tag, session = job["job_id"].upper(), job["mirror_session"]
    for suffix, stage, action in (("IN", "ingress", "MIRROR_INGRESS_ACTION"), ("OUT", "egress", "MIRROR_EGRESS_ACTION")):
        table = agent.config_db.hgetall(f"ACL_TABLE|TELEGEN_JOB_{tag}_{suffix}")
        assert (table["type"], table["stage"], table["ports@"]) == ("MIRROR", stage, "Ethernet0")
        rule = agent.config_db.hgetall(f"ACL_RULE|TELEGEN_JOB_{tag}_{suffix}|RULE_1")
        assert (rule[action], rule["IP_PROTOCOL"], rule["L4_DST_PORT"]) == (session, "17", "53")
    assert "src_port" not in agent.config_db.hgetall(f"MIRROR_SESSION|{session}")
    assert wait_until(lambda: state(agent, session) == "active", 1.0)
    dns_in = t.frames("Ethernet0", "Ethernet8", "udp", 5300, 53, 20)
    dns_out = t.frames("Ethernet4", "Ethernet0", "udp", 5301, 53, 15)
    other = t.frames("Ethernet0", "Ethernet8", "udp", 5302, 6200, 20) + t.frames("Ethernet0", "Ethernet8", "tcp",
                                                                                  7300, 443, 10)
    arrived = Capture(agent.layout.neighbor_ns, "Ethernet8")
    try:
        t.send(dns_in + dns_out + other)
        delivered = []
        assert wait_until(lambda: delivered.extend(arrived.drain()[0]) or sum(
            1 for f in delivered if len(f) > 37 and f[23] in (6, 17) and struct.unpack_from("!H", f, 36)[0] in
            (6200, 443)) == 30, 5), "the unmatched traffic did not cross the port"
    finally:
        arrived.close()
    agent.wait_status(job["job_id"], "completed", 20)
    results = agent.call("GET", f"/{job['job_id']}/results").json()
    assert flow_counts(results) == {
        (t.ip("Ethernet0"), t.ip("Ethernet8"), 17, 5300, 53, "ingress"): (20, ip_bytes(dns_in)),
        (t.ip("Ethernet4"), t.ip("Ethernet0"), 17, 5301, 53, "egress"): (15, ip_bytes(dns_out))}
    assert {f["protocol"] for f in results["top_flows"]} == {17}
    assert not agent.job_keys()


def test_the_capture_is_a_pcap_of_the_inner_frames_bounded_by_snap_length_and_cap(agent, tmp_path):
    """Acceptance 3: `mirror results ID --pcap F`; tshark reads F; frames as sent, cut at 128 bytes."""
    require(subprocess.run(["which", "tshark"], capture_output=True).returncode == 0, "needs tshark")
    t = agent.traffic
    job = start_job(agent, {"port": "Ethernet0", "direction": "ingress", "duration_sec": 4})
    assert wait_until(lambda: state(agent, job["mirror_session"]) == "active", 1.0)
    sent = [f for _, f in t.frames("Ethernet0", "Ethernet8", "udp", 5400, 6400, 80, size=300)]
    t.send([("Ethernet0", f) for f in sent])
    agent.wait_status(job["job_id"], "completed", 20)
    pcap = tmp_path / "job.pcap"
    done = agent.cli("results", job["job_id"], "--pcap", str(pcap))
    assert done.returncode == 0, done.stderr
    assert pcap.stat().st_size <= CAP_BYTES
    fields = subprocess.run(["tshark", "-r", str(pcap), "-T", "fields", "-e", "frame.cap_len", "-e", "frame.len",
                             "-e", "udp.srcport"], capture_output=True, text=True)
    assert fields.returncode == 0, fields.stderr
    rows = [line.split("\t") for line in fields.stdout.splitlines()]
    ours = [r for r in rows if r[2] == "5400"]
    assert len(rows) <= 50 and len(ours) >= 45 and all(r[:2] == [str(SNAP), "300"] for r in ours)
    data = pcap.read_bytes()[24:]
    frames = []
    while data:
        caplen = struct.unpack_from("<I", data, 8)[0]
        frames.append(data[16:16 + caplen])
        data = data[16 + caplen:]
    mine = [f for f in frames if f[12:14] == b"\x08\x00" and f[34:36] == struct.pack("!H", 5400)]
    assert mine == [f[:SNAP] for f in sent[:len(mine)]]  # in order, each as sent, up to the snap length
    capture = agent.call("GET", f"/{job['job_id']}/results").json()["capture"]
    assert capture["frames"] == len(frames) and capture["dropped"] >= 80 - len(mine)


def test_limits_validation_and_the_token_on_the_lab(agent):
    """Acceptance 4: a third concurrent job 429, bad requests 400 naming the field (CONFIG_DB
    untouched), no token 401."""
    jobs = [start_job(agent, {"port": p, "duration_sec": 30})["job_id"] for p in ("Ethernet0", "Ethernet4")]
    try:
        before = agent.config_db_dump()
        third = agent.call("POST", body={"port": "Ethernet28"})
        assert third.status_code == 429, third.text
        for body, field in (({"port": "Ethernet99"}, "port"), ({"port": "Ethernet12", "duration_sec": -1},
                                                                "duration_sec"),
                            ({"port": "Ethernet12", "filters": {"src_prefix": "300.1.1.0/24"}}, "filters[0].src_prefix")):
            answer = agent.call("POST", body=body)
            assert answer.status_code == 400 and answer.json()["message"].startswith(field + ":"), answer.text
        assert agent.call("POST", body={"port": "Ethernet12"}, token=None).status_code == 401
        assert agent.cli("start", "--port", "Ethernet12").returncode == 2  # the CLI says 429 in one line
        assert agent.config_db_dump() == before
    finally:
        for job_id in jobs:
            assert agent.cli("stop", job_id).returncode == 0
    assert not agent.job_keys()


def test_a_client_of_the_original_openapi_creates_reads_and_deletes(agent):
    """Acceptance 6: only the original Telegen-Sonic OpenAPI's paths and fields; its flows go out
    as OTLP log records tagged with the job id (otlp_export)."""
    t = agent.traffic
    request = {"port": "Ethernet0", "direction": "both", "span_method": "erspan", "vlan": None, "filters": {},
               "sample_rate": 1, "duration_sec": 3, "otlp_export": True, "result_detail": "flows"}
    created = agent.call("POST", body=request)
    assert created.status_code == 201
    start = created.json()
    assert isinstance(start["job_id"], str) and start["status"] == "running" and start["interface"] == "Ethernet0"
    status = agent.call("GET", f"/{start['job_id']}").json()
    for name in ("job_id", "status", "started_at", "expires_at", "port", "interface"):
        assert name in status
    assert (datetime.fromisoformat(status["expires_at"].rstrip("Z")) -
            datetime.fromisoformat(status["started_at"].rstrip("Z"))).total_seconds() == 3
    assert wait_until(lambda: state(agent, start["mirror_session"]) == "active", 1.0)
    sent = t.frames("Ethernet0", "Ethernet8", "udp", 5500, 6500, 12)
    t.send(sent)
    agent.wait_status(start["job_id"], "completed", 15)
    results = agent.call("GET", f"/{start['job_id']}/results", body=None).json()
    assert isinstance(results["window_sec"], (int, float)) and results["packets_total"] >= 12
    assert isinstance(results["bytes_total"], int) and all(isinstance(v, int) for v in results["errors"].values())
    top = [f for f in results["top_flows"] if f["five_tuple"] == f"udp {t.ip('Ethernet0')}:5500 -> {t.ip('Ethernet8')}:6500"]
    assert [(f["pkts"], f["bytes"]) for f in top] == [(12, ip_bytes(sent))]
    assert set(results["latency_histogram_ns"]) == {"bounds", "counts"} and results["otel_export"]["exported"]
    logs = agent.otlp.wait_for("logs")
    records = [r for _, req, _ in logs for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    tagged = [{a.key: a.value for a in r.attributes} for r in records]
    mine = [a for a in tagged if a.get("telegen.job.id") and a["telegen.job.id"].string_value == start["job_id"]]
    assert any(a["source.port"].int_value == 5500 and a["telegen.flow.packets"].int_value == 12 for a in mine)
    stopped = agent.call("DELETE", f"/{start['job_id']}").json()
    assert set(stopped) == {"job_id", "status"} and stopped["job_id"] == start["job_id"]
    assert agent.call("GET", f"/{start['job_id']}").status_code == 404


def test_sigkill_sigterm_and_lab_down_leave_nothing(tmp_path):
    """Acceptance 5: after a SIGKILL nothing of the dead job is left in CONFIG_DB within 2 s of
    the next start; SIGTERM removes everything; `lab down` leaves nothing."""
    with built_in_lab("jk") as layout:
        agent = LabAgent(layout, tmp_path)
        try:
            agent.start()
            start_job(agent, {"port": "Ethernet0", "filters": [{"protocol": "tcp"}], "duration_sec": 60})
            assert len(agent.job_keys()) == 5
            agent.kill()
            assert len(agent.job_keys()) == 5  # the dead instance left them
            spawned = agent.spawn()
            gone = wait_until(lambda: not agent.job_keys() and time.monotonic(), 2.0)
            assert gone and gone - spawned < 2.0, "the dead job's entries not removed within 2 s of the start"
            agent.wait_up()
            start_job(agent, {"port": "Ethernet4", "duration_sec": 60})
            assert agent.job_keys()
            assert agent.terminate() == 0
            assert not agent.job_keys()
            assert '"jobs": {}' in (tmp_path / "journal.json").read_text()
        finally:
            agent.close()
    for path in (f"/run/netns/{layout.switch_ns}", f"/run/netns/{layout.neighbor_ns}", str(layout.dir)):
        assert not os.path.exists(path), path
    assert subprocess.run(["pgrep", "-f", f"telegen_lab.labd --name {layout.name}$"]).returncode == 1


def test_afpacket_mode_counts_and_captures_alike(tmp_path):
    """mirror.mode afpacket (where XDP cannot be had): the same exact flows, the capture cut from
    the library's decode."""
    with built_in_lab("ja") as layout:
        agent = LabAgent(layout, tmp_path, mode="afpacket", snap_len=SNAP)
        try:
            agent.start()
            t = Traffic(layout)
            t.send(t.frames("Ethernet0", "Ethernet8", "udp", 9, 9, 1))
            assert wait_until(lambda: t.neighbors_resolved([t.ip("Ethernet8")]), 10)
            job = start_job(agent, {"port": "Ethernet0", "direction": "ingress", "duration_sec": 3})
            assert wait_until(lambda: state(agent, job["mirror_session"]) == "active", 1.0)
            sent = t.frames("Ethernet0", "Ethernet8", "udp", 5700, 6700, 25, size=200)
            t.send(sent)
            agent.wait_status(job["job_id"], "completed", 15)
            results = agent.call("GET", f"/{job['job_id']}/results?detail=pcaplike").json()
            assert flow_counts(results) == {(t.ip("Ethernet0"), t.ip("Ethernet8"), 17, 5700, 6700, "ingress"):
                                            (25, ip_bytes(sent))}
            captured = [bytes.fromhex(p["data"]) for p in results["packets"] if p["length"] == 200]
            assert captured == [f[:SNAP] for _, f in sent]
        finally:
            agent.close()
