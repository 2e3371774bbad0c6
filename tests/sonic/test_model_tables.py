"""The model against real SONiC dumps loaded into real redis: mock_tables and a generated switch."""
from __future__ import annotations

import json
from pathlib import Path

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.sonic.dbconfig import load_database_config
from sonic_agent.sonic.model import SwitchModel
from tests.conftest import RedisServer, require, shared_path
from tests.sonic.expect import check_namespace
from tests.sonic.generated import generate_switch, load_switch

DUMPS = {"CONFIG_DB": "config_db.json", "APPL_DB": "appl_db.json", "STATE_DB": "state_db.json",
         "COUNTERS_DB": "counters_db.json"}


def load_mock_namespace(server: RedisServer, folder: Path, name: str = "database_config.json") -> dict:
    """Load one mock_tables folder into `server`; returns {db: dump} as loaded."""
    config = load_database_config(str(server.write_database_config(folder / "database_config.json", name)))
    dumps = {db: json.loads((folder / file).read_text()) for db, file in DUMPS.items() if (folder / file).exists()}
    load_switch(config, dumps)
    return dumps


def separators(path: Path) -> dict:
    return {name: db["separator"] for name, db in json.loads(path.read_text())["DATABASES"].items()}


def test_single_asic_mock_tables(redis_server):
    mock = shared_path("fixtures", "sonic", "mock_tables")
    dumps = load_mock_namespace(redis_server, mock)
    model = SwitchModel.from_paths(str(redis_server.dir / "database_config.json"))
    model.start()
    try:
        assert model.wait_synced(10)
        checked = check_namespace(model, "", dumps, separators(mock / "database_config.json"))
    finally:
        model.stop()
    assert checked == 32 + 5 + 4 + 2
    assert model.port("etp5").oper_status == "up"  # from APPL_DB PORT_TABLE, not CONFIG_DB
    assert model.port("Ethernet0").oper_status == "down"
    ports, queues = model.read_counters(CATALOGUE)
    counters = {(c.port, name): value for c in ports for name, value in c.values.items()}
    raw = json.loads((mock / "counters_db.json").read_text())
    oid = raw["COUNTERS_PORT_NAME_MAP"]["Ethernet0"]
    assert counters[("Ethernet0", "port.in_octets")] == float(raw[f"COUNTERS:{oid}"]["SAI_PORT_STAT_IF_IN_OCTETS"])
    assert counters[("Ethernet0", "port.rx_bps")] == float(raw[f"RATES:{oid}"]["RX_BPS"])
    assert {q.type for q in queues} <= {"unicast", "multicast", "all"} and queues


def test_multi_asic_mock_tables(tmp_path):
    require(__import__("shutil").which("redis-server") is not None, "needs redis-server")
    mock = shared_path("fixtures", "sonic", "mock_tables")
    servers = []
    try:
        expected = {}
        for namespace in ("", "asic0", "asic1", "asic2"):
            workdir = tmp_path / namespace if namespace else tmp_path
            workdir.mkdir(exist_ok=True)
            servers.append(RedisServer(workdir).start())
            expected[namespace] = load_mock_namespace(servers[-1], mock / namespace if namespace else mock)
        (tmp_path / "database_global.json").write_text((mock / "database_global.json").read_text())
        model = SwitchModel.from_paths(str(tmp_path / "database_config.json"), str(tmp_path / "database_global.json"))
        model.start()
        try:
            assert model.wait_synced(10)
            assert model.namespaces == ["", "asic0", "asic1", "asic2"]
            for namespace, dumps in expected.items():
                folder = mock / namespace if namespace else mock
                assert check_namespace(model, namespace, dumps, separators(folder / "database_config.json")) > 0
            assert model.port("Ethernet-BP0").namespace == "asic0"
            assert model.portchannel_of("Ethernet-BP256", "asic1").name == "PortChannel4009"
            assert model.device("asic0").asn == "65100"
            assert model.device_info().hostname == "sonic-switch"  # the host namespace's
            assert all(state.connected for state in model.connection_states())
        finally:
            model.stop()
    finally:
        for server in servers:
            server.stop()


def test_generated_switch(redis_server):
    dumps = generate_switch(ports=32, portchannels=4, vlans=8)
    path = redis_server.write_database_config()
    load_switch(load_database_config(str(path)), dumps)
    model = SwitchModel.from_paths(str(path))
    model.sync()
    seps = {"CONFIG_DB": "|", "APPL_DB": ":", "STATE_DB": "|", "COUNTERS_DB": ":"}
    assert check_namespace(model, "", dumps, seps) == 32 + 4 + 8 + 3
    states = {s.name: s for s in model.port_states()}
    assert {s.kind for s in states.values()} == {"port", "portchannel", "vlan"}
    assert states["Ethernet0"].lag == "PortChannel0001" and states["Ethernet4"].lag == "PortChannel0001"
    assert states["Ethernet4"].oper_status == "up" and states["Ethernet0"].oper_status == "down"
    lags = {lag.name: {m.port: m.status for m in lag.members} for lag in model.lag_states()}
    vlans = {vlan.name: {m.port: m.tagging_mode for m in vlan.members} for vlan in model.vlan_states()}
    assert "PortChannel0001" in vlans["Vlan100"]
    assert states["PortChannel0001"].oper_status == "up"  # APPL_DB LAG_TABLE
    assert (lags["PortChannel0001"]["Ethernet0"], lags["PortChannel0001"]["Ethernet4"]) == ("enabled", "disabled")
    assert states["Ethernet32"].lag == "" and not any("Ethernet32" in members for members in lags.values())
    assert {vlan: members["PortChannel0001"] for vlan, members in vlans.items() if "PortChannel0001" in members} == {
        "Vlan100": "tagged", "Vlan104": "tagged"}
    assert {vlan: members["Ethernet32"] for vlan, members in vlans.items() if "Ethernet32" in members} == {
        "Vlan100": "untagged"}
    info = model.device_info()
    assert (info.hostname, info.hwsku, info.asn) == ("gen-switch", "Gen-64x100G", "65100")
    counters = {(c.port, name): value for c in model.read_counters(CATALOGUE)[0] for name, value in c.values.items()}
    assert counters[("Ethernet4", "port.in_octets")] == 1000 and counters[("Ethernet8", "port.rx_bps")] == 2500
    assert ("Ethernet4", "port.in_errors") not in counters  # absent fields are not invented
