"""The agent's probes on the lab: they follow CONFIG_DB's ports, survive SIGKILL, leave on SIGTERM."""
import json
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
import yaml

from sonic_agent.lab.control import DEFAULT_CONFIG_DB, lab_down, lab_up
from sonic_agent.lab.topology import LabLayout
from sonic_agent.sonic.dbconfig import load_database_config

from .conftest import require, require_root, wait_until

NEW_PORT = "Ethernet64"
UPPERS = {"PortChannel0001", "Vlan1000"}  # bridges over member ports: ingress on TC by design


def _one_each(programs, dev):
    """One ingress program (XDP, or TC on an upper device) and one TC egress program."""
    return programs.get(dev) == ((0, 2) if dev in UPPERS else (1, 1))


@pytest.fixture
def lab(tmp_path):
    require_root()
    require(shutil.which("bpftool") is not None, "needs bpftool")
    require(shutil.which("redis-server") is not None, "needs redis-server")
    layout = LabLayout("p" + uuid.uuid4().hex[:5])
    lab_up(layout)
    yield layout
    subprocess.run(["rm", "-rf", f"/sys/fs/bpf/telegen-test-{layout.name}"], check=False)
    lab_down(layout)


def _start_agent(layout, config):
    return subprocess.Popen(["nsenter", f"--net=/run/netns/{layout.switch_ns}", sys.executable, "-m", "sonic_agent",
                             "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)


def _programs(layout):
    """{ifname: (xdp program count, tc program count)} from bpftool inside the switch netns."""
    out = subprocess.run(["nsenter", f"--net=/run/netns/{layout.switch_ns}", "bpftool", "net", "-j"],
                         capture_output=True, text=True, check=True)
    doc = json.loads(out.stdout)[0]
    counts = {}
    for entry in doc["xdp"]:
        xdp, tc = counts.get(entry["devname"], (0, 0))
        counts[entry["devname"]] = (xdp + 1, tc)
    for entry in doc["tc"]:
        xdp, tc = counts.get(entry["devname"], (0, 0))
        counts[entry["devname"]] = (xdp, tc + 1)
    return counts



def test_probes_follow_config_db_and_survive_sigkill(lab, tmp_path):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"pin_dir": f"/sys/fs/bpf/telegen-test-{lab.name}"},
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
        agent = _start_agent(lab, config)
        time.sleep(3)
        assert wait_until(lambda: all(_one_each(_programs(lab), dev) for dev in expected), 20) is not None, _programs(lab)
        assert set(_programs(lab)) == expected, "programs on a device the model does not name"
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=20)
    assert agent.returncode == 0, stderr[-2000:]
    left = {dev: count for dev, count in _programs(lab).items() if count != (0, 0)}
    assert left == {}, f"programs left after SIGTERM: {left}"
