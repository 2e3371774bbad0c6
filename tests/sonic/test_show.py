"""`telegen-sonic show ...` on real redis: JSON objects per item, aligned tables, errors."""
from __future__ import annotations

import json
import subprocess
import sys
import uuid

from sonic_agent.cli import main
from sonic_agent.sonic.dbconfig import load_database_config
from tests.conftest import REPO, require_root
from tests.sonic.generated import generate_switch, load_switch


def loaded(redis_server, **sizes):
    path = redis_server.write_database_config()
    dumps = generate_switch(**sizes)
    load_switch(load_database_config(str(path)), dumps)
    return str(path), dumps


def show_json(capsys, what, path):
    assert main(["show", what, "--db-config", path, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_show_json_objects(redis_server, capsys):
    path, dumps = loaded(redis_server, ports=8, portchannels=2, vlans=3)
    ports = show_json(capsys, "ports", path)
    assert [p["name"] for p in ports] == list(dumps["CONFIG_DB"]["PORT"])
    for port in ports:
        cfg = dumps["CONFIG_DB"]["PORT"][port["name"]]
        assert (port["alias"], port["speed_mbps"], port["admin_status"]) == (cfg["alias"], int(cfg["speed"]),
                                                                            cfg["admin_status"])
        assert port["oper_status"] == dumps["APPL_DB"]["PORT_TABLE"][port["name"]]["oper_status"]
        assert "ifindex" in port and port["lanes"] and port["index"] is not None
    assert ports[0]["portchannel"] == "PortChannel0001"
    lags = show_json(capsys, "lags", path)
    assert [(l["name"], l["members"]) for l in lags] == [("PortChannel0001", ["Ethernet0", "Ethernet4"]),
                                                          ("PortChannel0002", ["Ethernet8", "Ethernet12"])]
    assert lags[0]["addresses"] == ["10.0.0.0/31"]
    vlans = show_json(capsys, "vlans", path)
    assert vlans[0]["vlanid"] == 100
    assert {"port": "PortChannel0001", "tagging_mode": "tagged"} in vlans[0]["members"]
    sessions = {s["name"]: s for s in show_json(capsys, "mirror-sessions", path)}
    assert sessions["everflow"]["gre_type"] == "0x88be" and sessions["everflow"]["status"] == "active"
    assert sessions["everflow"]["src_ports"] == ["Ethernet0", "Ethernet4"]
    assert sessions["span"]["type"] == "SPAN" and sessions["span"]["dst_port"] == "Ethernet28"


def test_show_table_is_aligned(redis_server, capsys):
    path, dumps = loaded(redis_server, ports=12, portchannels=1, vlans=2)
    assert main(["show", "ports", "--db-config", path]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "ALIAS", "INDEX"] and len(lines) == 13
    start = lines[0].index("SPEED_MBPS")
    assert all(line[start - 2:start] == "  " and line[start] != " " for line in lines)
    assert lines[12].startswith("Ethernet44 ")


def test_show_missing_db_config_is_one_line_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "database_config.json"
    assert main(["show", "ports", "--db-config", str(missing)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(missing) in err[0]


def test_show_unreachable_redis_is_one_line_exit_2(tmp_path, capsys):
    from tests.conftest import RedisServer
    server = RedisServer(tmp_path)
    path = server.write_database_config()  # never started: its unix socket does not exist
    assert main(["show", "vlans", "--db-config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unreachable" in err[0]
    assert f"(unix socket {server.socket} absent)" in err[0], err  # the path, not just "127.0.0.1:0"


def test_show_ports_ifindex_from_the_current_netns(redis_server):
    """The agent may run inside a network namespace: ifindex comes from the one it runs in."""
    require_root()
    path, _ = loaded(redis_server, ports=4, portchannels=1, vlans=1)
    ns = f"tgs-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "add", "Ethernet8", "type", "veth", "peer", "name", "Ethernet12"],
                       check=True)
        links = json.loads(subprocess.run(["ip", "-n", ns, "-j", "link"], check=True, capture_output=True,
                                          text=True).stdout)
        expected = {link["ifname"]: link["ifindex"] for link in links}
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "sonic_agent", "show", "ports",
                              "--db-config", path, "--format", "json"], check=True, capture_output=True, text=True,
                             cwd=REPO).stdout
        ifindex = {p["name"]: p["ifindex"] for p in json.loads(out)}
        assert ifindex == {"Ethernet0": None, "Ethernet4": None, "Ethernet8": expected["Ethernet8"],
                           "Ethernet12": expected["Ethernet12"]}
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)
