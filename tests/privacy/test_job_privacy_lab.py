"""Issue 13 on the lab: a mirror job under `jobs.privacy` (anonymise, exclude one neighbor),
its flows raw to OTLP (the OTLP exporter's policy, raw here). The job's results show the
routed flow anonymised and not the excluded one; its capture holds each frame with its
addresses anonymised and checksums tshark finds good, never an original address; the OTLP
collector gets both flows with their real addresses."""
from __future__ import annotations

import ipaddress
import shutil
import subprocess

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether

from sonic_agent.privacy.cryptopan import CryptoPAn
from tests.conftest import require, wait_until
from tests.export.otlp_peer import HttpReceiver
from tests.jobs.lab import LabAgent, Traffic, flow_counts, ip_bytes
from tests.privacy.vectors import KEY
from tests.probes.conftest import netns


def anonymised_frame(frame: bytes, pan: CryptoPAn) -> bytes:
    """The frame as sent with its IP addresses mapped, every checksum computed by scapy."""
    packet = Ether(frame)
    packet[IP].src, packet[IP].dst = pan.anonymize(packet[IP].src), pan.anonymize(packet[IP].dst)
    del packet[IP].chksum, packet[UDP].chksum
    return bytes(packet)


def test_a_job_under_jobs_privacy_shows_anonymised_flows_and_capture(lab, tmp_path):
    require(shutil.which("tshark") is not None, "needs tshark")
    key = tmp_path / "privacy.key"
    key.write_bytes(KEY)
    key.chmod(0o600)
    traffic = Traffic(lab)
    ours, excluded_host, other = traffic.ip("Ethernet0"), traffic.ip("Ethernet4"), traffic.ip("Ethernet8")
    with netns(lab.switch_ns):
        receiver = HttpReceiver().start()
    agent = LabAgent(lab, tmp_path, privacy={"key_file": str(key), "anonymize": True,
                                             "exclude": [f"{excluded_host}/32"]},
                     export={"otlp": {"enabled": True, "protocol": "http", "interval_s": 3600,
                                      "endpoint": f"http://127.0.0.1:{receiver.port}"}})
    pan = CryptoPAn(KEY)
    try:
        agent.start()
        traffic.send([f for src, dst in (("Ethernet4", "Ethernet0"), ("Ethernet0", "Ethernet8"))
                      for f in traffic.frames(src, dst, "udp", 9, 9, 1)])
        assert wait_until(lambda: traffic.neighbors_resolved([ours, other]), 10)
        job = agent.call("POST", body={"port": "Ethernet0", "direction": "both", "duration_sec": 4,
                                       "otlp_export": True, "result_detail": "pcaplike"})
        assert job.status_code == 201, job.text
        job_id, session = job.json()["job_id"], job.json()["mirror_session"]
        assert wait_until(lambda: agent.state_db.hget(f"MIRROR_SESSION_TABLE|{session}", "status") == "active", 1.0)
        routed = traffic.frames("Ethernet0", "Ethernet8", "udp", 5800, 6800, 30)  # enters Ethernet0
        hidden = traffic.frames("Ethernet4", "Ethernet0", "udp", 5801, 6801, 20)  # leaves it, from the excluded host
        traffic.send(routed + hidden)
        agent.wait_status(job_id, "completed", 20)
        results = agent.call("GET", f"/{job_id}/results").json()
        pcap = tmp_path / "job.pcap"
        done = agent.cli("results", job_id, "--pcap", str(pcap))
        assert done.returncode == 0, done.stderr
        logs = receiver.wait_for("logs")
    finally:
        agent.close()
        receiver.stop()

    assert flow_counts(results) == {(pan.anonymize(ours), pan.anonymize(other), 17, 5800, 6800, "ingress"):
                                    (30, ip_bytes(routed))}
    assert results["errors"]["flows_excluded"] >= 1 and results["capture"]["excluded"] >= len(hidden)
    captured = [bytes.fromhex(p["data"]) for p in results["packets"]]
    expected = [anonymised_frame(f, pan) for _, f in routed]
    assert [f for f in captured if f in expected] == expected  # each routed frame, in order, anonymised
    originals = [ipaddress.ip_address(a).packed for a in (ours, excluded_host, other)]
    data = pcap.read_bytes()
    assert not [a for a in originals if a in data]
    fields = subprocess.run(["tshark", "-r", str(pcap), "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                             "-Y", "udp", "-T", "fields", "-e", "ip.checksum.status", "-e", "udp.checksum.status"],
                            capture_output=True, text=True, timeout=60)
    assert fields.returncode == 0, fields.stderr
    statuses = [line.split("\t") for line in fields.stdout.splitlines()]
    assert len(statuses) >= len(routed) and all(s == ["1", "1"] for s in statuses), fields.stdout

    records = [r for _, req, _ in logs for rl in req.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    tagged = [{a.key: a.value for a in r.attributes} for r in records]
    mine = {(a["source.address"].string_value, a["source.port"].int_value) for a in tagged
            if a.get("telegen.job.id") and a["telegen.job.id"].string_value == job_id}
    assert {(ours, 5800), (excluded_host, 5801)} <= mine  # OTLP's policy: raw, nothing excluded
