"""The agent's probes on the lab: they follow CONFIG_DB's ports, survive SIGKILL, leave on SIGTERM;
what they count (frame sizes, top talkers, kernel drops) reaches /metrics."""
import contextlib
import json
import signal
import socket
import subprocess
import sys

import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab.control import DEFAULT_CONFIG_DB

from .conftest import bpftool_net, in_netns, require, wait_until
from .probes.conftest import netns, send_frames

NEW_PORT = "Ethernet64"
UPPERS = {"PortChannel0001", "Vlan1000"}  # bridges over member ports: ingress on TC by design


def _one_each(programs, dev):
    """One ingress program (XDP, or TC on an upper device) and one TC egress program."""
    return programs.get(dev) == ((0, 2) if dev in UPPERS else (1, 1))


def _start_agent(layout, config):
    return subprocess.Popen(["nsenter", f"--net=/run/netns/{layout.switch_ns}", sys.executable, "-m", "sonic_agent",
                             "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _programs(layout):
    """{ifname: (xdp program count, tc program count)} from bpftool inside the switch netns."""
    doc = bpftool_net(layout.switch_ns)
    counts = {}
    for entry in doc["xdp"]:
        xdp, tc = counts.get(entry["devname"], (0, 0))
        counts[entry["devname"]] = (xdp + 1, tc)
    for entry in doc["tc"]:
        xdp, tc = counts.get(entry["devname"], (0, 0))
        counts[entry["devname"]] = (xdp, tc + 1)
    return counts


def _program_ids(layout):
    doc = bpftool_net(layout.switch_ns)
    return {entry["id"] for entry in doc["xdp"] + doc["tc"]}


def test_probes_follow_config_db_and_survive_sigkill(lab, tmp_path):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"pin_dir": str(lab.bpf_pin_dir)},
        "export": {"prometheus": {"listen": "127.0.0.1:0"}},
    }))
    expected = set(json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"]) | {"PortChannel0001", "Vlan1000", "eth0"}
    agent = _start_agent(lab, config)
    try:
        assert wait_until(lambda: all(_one_each(_programs(lab), dev) for dev in expected), 30) is not None, _programs(lab)

        dbs = load_database_config(str(lab.db_config))
        config_db = dbs.connect("CONFIG_DB")
        config_db.hset(f"PORT|{NEW_PORT}", mapping={"alias": "etp17", "lanes": "64,65,66,67", "speed": "100000",
                                                    "mtu": "9100", "admin_status": "up", "index": "17"})
        took = wait_until(lambda: _programs(lab).get(NEW_PORT) == (1, 1), 2.0)
        assert took is not None, f"{NEW_PORT} not attached within 2 s of its CONFIG_DB entry"
        config_db.delete(f"PORT|{NEW_PORT}")
        assert wait_until(lambda: NEW_PORT not in _programs(lab), 2.0) is not None

        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        assert all(_one_each(_programs(lab), dev) for dev in expected)  # left behind by the killed agent
        killed = _program_ids(lab)
        agent = _start_agent(lab, config)
        assert wait_until(lambda: not _program_ids(lab) & killed, 20) is not None, "killed agent's programs not replaced"
        assert wait_until(lambda: all(_one_each(_programs(lab), dev) for dev in expected), 20) is not None, _programs(lab)
        assert set(_programs(lab)) == expected, "programs on a device the model does not name"
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
    assert agent.returncode == 0, stderr[-2000:]
    left = {dev: count for dev, count in _programs(lab).items() if count != (0, 0)}
    assert left == {}, f"programs left after SIGTERM: {left}"


def test_probe_sizes_talkers_and_kernel_drops_reach_metrics(lab, tmp_path):
    """Jumbo frames of two sizes into Ethernet8 land in their size buckets, exactly; UDP to a
    closed port on the switch shows as its talker and as no_socket drops."""
    metrics_port, port, switch_ip, neighbor_ip = 9111, "Ethernet8", "10.0.0.4", "10.0.0.5"  # INTERFACE 10.0.0.4/31
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"pin_dir": str(lab.bpf_pin_dir), "top_talker_sample": 1},
        "export": {"prometheus": {"listen": f"127.0.0.1:{metrics_port}"}},
    }))
    lab_threads = contextlib.ExitStack()
    in_lab = lab_threads.enter_context(in_netns(lab.switch_ns))

    def samples(name, **labels):
        """{labels: value} of /metrics samples called `name` on Ethernet8 that carry `labels`."""
        url = f"http://127.0.0.1:{metrics_port}/metrics"
        try:
            text = in_lab(lambda: requests.get(url, timeout=2).text)
        except requests.ConnectionError:
            return {}
        return {tuple(sorted(s.labels.items())): s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name == name and s.labels.get("port", port) == port
                and labels.items() <= s.labels.items()}

    def buckets():
        got = samples("telegen_probe_packet_size_bytes_bucket", direction="rx")
        return {dict(k)["le"]: v for k, v in got.items()}

    agent = _start_agent(lab, config)
    try:
        assert wait_until(buckets, 30) is not None, "no size histogram for Ethernet8 on /metrics within 30 s"
        before = buckets()
        frame = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x88\xb5"  # local experimental EtherType
        send_frames(lab.neighbor_ns, port, [frame.ljust(5000, b"\0")] * 7 + [frame.ljust(9000, b"\0")] * 3)

        def added():  # frames added per bucket: 5000 in [4096, 8191], 9000 in [8192, 16383]
            now = buckets()
            return {le: (now[le] - before[le]) - (now[low] - before[low])
                    for low, le in (("4095.0", "8191.0"), ("8191.0", "16383.0"))}

        assert wait_until(lambda: added() == {"8191.0": 7, "16383.0": 3}, 5) is not None, added()

        with netns(lab.neighbor_ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            for _ in range(20):
                sock.sendto(b"x" * 10, (switch_ip, 9))  # discard: nothing listens on the switch

        def talkers():
            return sum(samples("telegen_probe_talker_packets_total", source=neighbor_ip, protocol="udp").values())

        def drops():
            return samples("telegen_kernel_drops_total", reason="no_socket")

        assert wait_until(lambda: talkers() == 20, 5) is not None, talkers()  # top_talker_sample 1: exact
        available = samples("telegen_agent_probes_kernel_drops_available")
        require(available == {(): 1.0}, "kernel drop visibility unavailable (tp_btf/kfree_skb)")
        assert wait_until(lambda: list(drops().values()) == [20], 5) is not None, drops()
    finally:
        lab_threads.close()
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
    assert agent.returncode == 0, stderr[-2000:]
