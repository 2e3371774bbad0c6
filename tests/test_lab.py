"""The docker-free lab: real namespaces, veths, redis-server and the state daemon."""
import json
import subprocess
import sys
import uuid

import pytest

from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab.control import DEFAULT_CONFIG_DB, lab_down, lab_up
from telegen_lab.topology import LabLayout
from telegen_lab.traffic import CONTROL_CLASSES

from .conftest import require, require_root, shared_path, wait_until
from .sonic.expect import tables, typed


def _host_state(name):
    """What a lab named `name` could leave behind: namespaces, host links, processes, files."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    procs = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    ours = sorted(line.split(None, 1)[1] for line in procs.splitlines()[1:]
                  if f"telegen-sonic-lab/{name}" in line or f"--name {name}" in line)
    return (sorted(n for n in netns.splitlines() if n.startswith(name + "-")),
            sorted(l.split()[0] for l in links.splitlines() if l.startswith(("Ethernet", "PortChannel", "Vlan"))),
            ours,
            LabLayout(name).dir.exists(), LabLayout(name).bpf_pin_dir.exists())


@pytest.fixture
def lab():
    require_root()
    require(subprocess.run(["which", "redis-server"], capture_output=True).returncode == 0, "needs redis-server")
    layout = LabLayout("t" + uuid.uuid4().hex[:5])
    before = _host_state(layout.name)
    yield layout
    lab_down(layout)
    assert _host_state(layout.name) == before, "lab down left something behind"


def _switch_netdevs(layout):
    out = subprocess.run(["ip", "-n", layout.switch_ns, "-j", "link"], capture_output=True, text=True, check=True)
    return {link["ifname"] for link in json.loads(out.stdout)}


def _redis_db(layout, name):
    dbs = load_database_config(str(layout.db_config))
    return dbs.connect(name), dbs.db(name).separator



def _assert_config_db_equals(layout, dump):
    config, sep = _redis_db(layout, "CONFIG_DB")
    expected = tables(dump, sep)
    keys = [k for k in config.keys("*") if k != "CONFIG_DB_INITIALIZED"]
    got = {}
    for key in keys:
        table, _, name = key.partition(sep)
        got.setdefault(table, {})[name] = typed(config.hgetall(key))
    assert sorted(got) == sorted(expected)
    for table in expected:
        assert got[table] == expected[table], f"CONFIG_DB table {table} differs from the file"


def _assert_link_down_flips(layout, port):
    appl, _ = _redis_db(layout, "APPL_DB")
    state, _ = _redis_db(layout, "STATE_DB")
    assert state.hget(f"PORT_TABLE|{port}", "netdev_oper_status") == "up"
    subprocess.run(["ip", "-n", layout.neighbor_ns, "link", "set", port, "down"], check=True)
    took = wait_until(lambda: state.hget(f"PORT_TABLE|{port}", "netdev_oper_status") == "down"
                     and appl.hget(f"PORT_TABLE:{port}", "oper_status") == "down", 2.0)
    assert took is not None, f"{port} down did not reach STATE_DB/APPL_DB within 2 s"
    assert appl.hget(f"PORT_TABLE:{port}", "flap_count") == "1"
    subprocess.run(["ip", "-n", layout.neighbor_ns, "link", "set", port, "up"], check=True)
    assert wait_until(lambda: appl.hget(f"PORT_TABLE:{port}", "oper_status") == "up", 2.0) is not None


def test_lab_from_sonic_mock_tables(lab):
    path = shared_path("fixtures", "sonic", "mock_tables", "config_db.json")
    dump = json.loads(path.read_text())
    info = lab_up(lab, str(path))
    ports = {k.split("|", 1)[1] for k in dump if k.startswith("PORT|")}
    assert info["ports"] == len(ports) == 32
    assert ports <= _switch_netdevs(lab)
    _assert_config_db_equals(lab, dump)
    up_port = next(p for p in sorted(ports) if dump[f"PORT|{p}"].get("admin_status") == "up")
    _assert_link_down_flips(lab, up_port)


def test_builtin_lab_state_counters_and_ports_follow_config_db(lab):
    dump = json.loads(DEFAULT_CONFIG_DB.read_text())
    lab_up(lab)
    ports = set(dump["PORT"])
    assert ports | {"eth0", "PortChannel0001", "Vlan1000"} <= _switch_netdevs(lab)
    _assert_config_db_equals(lab, dump)
    _assert_link_down_flips(lab, "Ethernet0")

    counters, _ = _redis_db(lab, "COUNTERS_DB")
    oids = counters.hgetall("COUNTERS_PORT_NAME_MAP")
    assert set(oids) == ports
    key = f"COUNTERS:{oids['Ethernet4']}"
    before = int(counters.hget(key, "SAI_PORT_STAT_IF_IN_OCTETS") or 0)
    sent = subprocess.run([sys.executable, "-m", "sonic_agent", "lab", "--name", lab.name, "traffic",
                           "--kind", "control", "--count", "3", "--interval", "0"],
                          capture_output=True, text=True, check=True)
    assert f"sent {3 * len(ports) * len(CONTROL_CLASSES)} control frames" in sent.stdout
    assert wait_until(lambda: int(counters.hget(key, "SAI_PORT_STAT_IF_IN_OCTETS")) > before, 2.5) is not None
    assert wait_until(lambda: counters.exists(f"RATES:{oids['Ethernet4']}"), 2.5) is not None

    state, _ = _redis_db(lab, "STATE_DB")
    assert state.hget("MIRROR_SESSION_TABLE|everflow0", "status") == "active"

    config, _ = _redis_db(lab, "CONFIG_DB")
    config.hset("PORT|Ethernet64", mapping={"alias": "etp17", "lanes": "64,65,66,67", "speed": "100000",
                                            "admin_status": "up", "mtu": "9100", "index": "17"})
    assert wait_until(lambda: "Ethernet64" in _switch_netdevs(lab), 2.0) is not None
    assert wait_until(lambda: counters.hexists("COUNTERS_PORT_NAME_MAP", "Ethernet64"), 2.0) is not None
    config.delete("PORT|Ethernet64")
    assert wait_until(lambda: "Ethernet64" not in _switch_netdevs(lab), 2.0) is not None
    assert wait_until(lambda: not counters.hexists("COUNTERS_PORT_NAME_MAP", "Ethernet64"), 2.0) is not None


def test_second_lab_up_is_refused_and_changes_nothing(lab):
    lab_up(lab)
    from sonic_agent.errors import UserError
    with pytest.raises(UserError, match="already up"):
        lab_up(lab)
    assert set(json.loads(DEFAULT_CONFIG_DB.read_text())["PORT"]) <= _switch_netdevs(lab)


@pytest.mark.parametrize("text, message", [
    ('{"PORT": {"Ethernet0": "x"}}', "PORT|Ethernet0 must be an object"),
    ('{"PORT": "x"}', "PORT must be an object"),
    ('{"PORT|Ethernet0": 5}', "PORT|Ethernet0 must be an object"),
    ("[1, 2]", "top level must be an object"),
    ("{", "not valid JSON"),
])
def test_bad_config_db_is_one_line_naming_the_entry(tmp_path, text, message):
    from sonic_agent.errors import UserError
    from telegen_lab.control import read_config_db
    path = tmp_path / "config_db.json"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("|", r"\|")):
        read_config_db(str(path))
