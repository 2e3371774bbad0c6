"""Every SONiC family from sonic-utilities' mock tables in a real redis, series by series.

Expected values are the mock tables' own, written here as literals; "N/A", "None" and
"Updating" fields are counted skips, and the rest of their family is exported.
"""
from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.config import FamiliesConfig
from sonic_agent.export.gnmi_paths import snapshot_leaves
from sonic_agent.export.otlp_encode import MetricsEncoder
from sonic_agent.export.prometheus_encode import snapshot_text
from sonic_agent.records import Snapshot
from sonic_agent.sonic.model import SwitchModel
from tests.conftest import RedisServer, require, shared_path
from tests.sonic.test_model_tables import load_mock_namespace

SETTINGS = {name: getattr(FamiliesConfig(), name) for name in FamiliesConfig.__dataclass_fields__}


def snapshot_of(model: SwitchModel) -> Snapshot:
    ports, queues = model.read_counters(CATALOGUE)
    return Snapshot(timestamp=1.0, ports=model.port_states(), bgp_peers=model.bgp_peers(), port_counters=ports,
                    queue_counters=queues, families=model.read_families(CATALOGUE, SETTINGS))


def series(snap: Snapshot) -> dict:
    """{(sample name, sorted labels but alias and namespace): value} from the OpenMetrics exposition."""
    text = snapshot_text(snap, CATALOGUE, openmetrics=True, max_series=1_000_000)[0] + "# EOF\n"
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("alias", "namespace")))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.fixture(scope="module")
def mock_snapshot(tmp_path_factory):
    require(__import__("shutil").which("redis-server") is not None, "needs redis-server")
    mock = shared_path("fixtures", "sonic", "mock_tables")
    server = RedisServer(tmp_path_factory.mktemp("families")).start()
    try:
        load_mock_namespace(server, mock)
        model = SwitchModel.from_paths(str(server.dir / "database_config.json"))
        model.sync()
        yield snapshot_of(model)
        model.stop()
    finally:
        server.stop()


def test_transceivers(mock_snapshot):
    got = series(mock_snapshot)
    assert got[("sonic_transceiver_temperature_celsius", (("port", "Ethernet0"),))] == 30.9258
    assert got[("sonic_transceiver_voltage_volts", (("port", "Ethernet0"),))] == 3.2824
    assert got[("sonic_transceiver_rx_power_dbm", (("lane", "2"), ("port", "Ethernet0")))] == -0.4871
    assert got[("sonic_transceiver_rx_power_dbm", (("lane", "8"), ("port", "Ethernet8")))] == -3.6131  # 8 lanes
    assert got[("sonic_transceiver_tx_bias_amperes", (("lane", "1"), ("port", "Ethernet0")))] == pytest.approx(0.00675)
    assert not [k for k in got if k[0] == "sonic_transceiver_tx_power_dbm" and ("port", "Ethernet0") in k[1]]  # N/A
    assert got[("sonic_transceiver_info", (("part_number", "MFA1A00-C003"), ("port", "Ethernet0"),
                                           ("revision", "AC"), ("serial", "MT1706FT02064"),
                                           ("type", "QSFP28 or later"), ("vendor", "Mellanox")))] == 1
    assert got[("sonic_transceiver_dom_threshold", (("port", "Ethernet0"), ("threshold", "temphighalarm")))] == 75.0
    assert got[("sonic_transceiver_status_flag", (("flag", "rx1los"), ("port", "Ethernet4")))] == 0
    assert got[("sonic_transceiver_status_info", (("field", "DP1State"), ("port", "Ethernet44"),
                                                  ("state", "DataPathActivated")))] == 1
    unparsed = {k: v for k, v in got.items() if k[0] == "telegen_sonic_fields_unparsed_total"}
    assert unparsed[("telegen_sonic_fields_unparsed_total", (("field", "tx1power"),
                                                             ("table", "TRANSCEIVER_DOM_SENSOR")))] >= 1


def test_platform(mock_snapshot):
    got = series(mock_snapshot)
    psu = (("psu", "PSU 1"),)
    assert got[("sonic_psu_power_watts", psu)] == 102.7
    assert got[("sonic_psu_voltage_volts", psu)] == 12.19 and got[("sonic_psu_current_amperes", psu)] == 8.37
    assert got[("sonic_psu_present", psu)] == 1 and got[("sonic_psu_status_ok", psu)] == 1
    assert ("sonic_psu_temperature_celsius", psu) not in got  # "None": skipped, counted
    assert got[("telegen_sonic_fields_unparsed_total", (("field", "temp"), ("table", "PSU_INFO")))] == 2
    assert got[("sonic_fan_status_ok", (("fan", "fan1"),))] == 1
    assert got[("sonic_fan_status_ok", (("fan", "fan2"),))] == 0  # "False": not ok
    assert ("sonic_fan_status_ok", (("fan", "fan3"),)) not in got  # "Updating"
    assert got[("sonic_fan_speed_ratio", (("fan", "fan3"),))] == 0.5  # the rest of fan3 is there
    assert got[("sonic_fan_target_speed_ratio", (("fan", "fan1"),))] == 0.2
    assert got[("sonic_voltage_volts", (("sensor", "VSENSOR0"),))] == pytest.approx(0.760)  # 760 mV
    assert got[("sonic_current_amperes", (("sensor", "ISENSOR1"),))] == pytest.approx(0.360)  # 360 mA
    assert got[("sonic_chassis_psus", (("chassis", "chassis 1"),))] == 2
    assert got[("sonic_system_ready", ())] == 0  # SYSTEM_STATE Status DOWN
    assert got[("sonic_reboot_cause_info", (("cause", "warm-reboot"), ("time", "Fri Oct  9 04:51:47 UTC 2020"),
                                            ("user", "admin")))] == 1  # the newest of two


def test_resources_and_traps(mock_snapshot):
    got = series(mock_snapshot)
    assert got[("sonic_crm_available", (("resource", "ipv4_route"),))] == 98246
    assert got[("sonic_crm_acl_used", (("bind_point", "PORT"), ("resource", "group"), ("stage", "INGRESS")))] == 16
    assert got[("sonic_crm_acl_table_available", (("resource", "entry"), ("table_id", "0x7000000000670")))] == 1024
    assert {k[1] for k in got if k[0] == "sonic_trap_packets_total"} == {(("trap", "dhcp"),)}  # the one trap
    assert got[("sonic_trap_packets_total", (("trap", "dhcp"),))] == 100
    assert got[("sonic_trap_bytes_total", (("trap", "dhcp"),))] == 2000
    assert got[("sonic_trap_packets_per_second", (("trap", "dhcp"),))] == 50.25
    assert got[("telegen_cpu_path_trapped_packets_total", (("class", "dhcp"),))] == 100
    pg = (("kind", "shared"), ("period", "user"), ("port", "Ethernet0"), ("priority_group", "0"))
    assert got[("sonic_priority_group_watermark_bytes", pg)] == 100
    pool = (("kind", "headroom"), ("period", "persistent"), ("pool", "ingress_lossless_pool"))
    assert got[("sonic_buffer_pool_watermark_bytes", pool)] == 863616
    assert got[("sonic_queue_watermark_bytes", (("kind", "shared"), ("period", "persistent"), ("port", "Ethernet0"),
                                                ("queue", "0"), ("type", "unicast")))] == 3057328


def test_routing_and_software(mock_snapshot):
    got = series(mock_snapshot)
    assert got[("sonic_bfd_session_up", (("interface", "default"), ("peer", "100.251.7.1"), ("vrf", "default")))] == 1
    assert got[("sonic_bfd_session_up", (("interface", "default"), ("peer", "fddd:a101:a251::a10:1"),
                                         ("vrf", "default")))] == 0
    assert got[("sonic_feature_enabled", (("feature", "bgp"),))] == 1
    assert got[("sonic_feature_enabled", (("feature", "database"),))] == 1  # always_enabled
    established = {k: v for k, v in got.items() if k[0] == "sonic_bgp_neighbor_established"}
    assert established and set(established.values()) == {0}  # configured, no NEIGH_STATE_TABLE in these tables


def test_port_counters_beyond_the_basics(mock_snapshot):
    got = series(mock_snapshot)
    frames = {k: v for k, v in got.items() if k[0] == "sonic_port_frames_by_size_total"}
    assert len({dict(k[1])["size"] for k in frames}) == 10
    assert {dict(k[1])["priority"] for k in got if k[0] == "sonic_port_pfc_packets_total"} == set("01234567")


def test_every_encoder_takes_every_family(mock_snapshot):
    request, points = MetricsEncoder("cumulative", 0).encode(mock_snapshot)
    names = {m.name for m in request.resource_metrics[0].scope_metrics[0].metrics}
    assert {"hw.temperature", "hw.power", "hw.fan.speed_ratio", "hw.status", "sonic.crm.available", "sonic.trap.packets",
            "sonic.transceiver.rx.power"} <= names
    leaves = {"/".join(n + "".join(f"[{k}={v}]" for k, v in keys) for n, keys in p): v
              for p, v in snapshot_leaves(mock_snapshot).items()}
    assert leaves["components/component[name=PSU 1]/power-supply/state/output-power"] == 102.7
    assert leaves["components/component[name=Ethernet0]/state/temperature/instant"] == 30.9258
    assert leaves["components/component[name=Ethernet0]/transceiver/physical-channels/channel[index=2]/state/"
                  "input-power/instant"] == -0.4871


def test_multi_asic_families_keep_their_namespaces(tmp_path):
    require(__import__("shutil").which("redis-server") is not None, "needs redis-server")
    mock = shared_path("fixtures", "sonic", "mock_tables")
    servers = []
    try:
        for namespace in ("", "asic0", "asic1", "asic2"):
            workdir = tmp_path / namespace if namespace else tmp_path
            workdir.mkdir(exist_ok=True)
            servers.append(RedisServer(workdir).start())
            load_mock_namespace(servers[-1], mock / namespace if namespace else mock)
        (tmp_path / "database_global.json").write_text((mock / "database_global.json").read_text())
        model = SwitchModel.from_paths(str(tmp_path / "database_config.json"), str(tmp_path / "database_global.json"))
        model.sync()
        text = snapshot_text(snapshot_of(model), CATALOGUE, openmetrics=True, max_series=1_000_000)[0] + "# EOF\n"
        model.stop()
    finally:
        for server in servers:
            server.stop()
    samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
    present = {s.labels["namespace"] for s in samples if s.name == "sonic_psu_present" and s.labels["psu"] == "PSU 1"}
    assert present == {"", "asic0", "asic1", "asic2"}  # one series each, not four copies of one
    crm = {s.labels["namespace"]: s.value for s in samples
           if s.name == "sonic_crm_available" and s.labels["resource"] == "ipv4_route"}
    assert set(crm) == {"", "asic0", "asic1"}  # asic2's COUNTERS_DB has no CRM
    assert [(s.labels["namespace"], s.value) for s in samples if s.name == "sonic_transceiver_temperature_celsius"
            and s.labels["port"] == "Ethernet64"] == [("asic1", 30.9258)]
    keys = [(s.name, tuple(sorted(s.labels.items()))) for s in samples]
    assert len(keys) == len(set(keys))  # no two series alike


def test_a_family_is_capped_counted_and_can_be_turned_off(redis_server):
    """ROUTE_TABLE holds 10 routes, the routes family reads at most 4: the count stops there, the
    cut shows and is counted; with the family off nothing of it is read."""
    from sonic_agent.config import FamilyConfig
    from sonic_agent.sonic.dbconfig import load_database_config
    from tests.sonic.generated import generate_switch, load_switch
    path = redis_server.write_database_config()
    dumps = generate_switch(ports=2, portchannels=0, vlans=0)
    dumps["APPL_DB"].update({f"ROUTE_TABLE:10.{i}.0.0/16": {"nexthop": "10.0.0.1"} for i in range(10)})
    load_switch(load_database_config(str(path)), dumps)
    model = SwitchModel.from_paths(str(path))
    model.sync()
    capped = dict(SETTINGS, routes=FamilyConfig(refresh_s=0.001, max_entries=4))
    for _ in range(2):
        families = model.read_families(CATALOGUE, capped)
    assert sum(r.values["routes.count"] for r in families["routes"]) == 4
    health = {r.key[0]: r.values for r in families["table_health"]}
    assert health["ROUTE_TABLE"]["truncated"] == 1 and health["ROUTE_TABLE"]["cuts"] == 2
    off = SwitchModel.from_paths(str(path))
    off.sync()
    assert "routes" not in off.read_families(CATALOGUE, dict(SETTINGS, routes=FamilyConfig(enabled=False)))
    model.stop()
    off.stop()


@pytest.mark.parametrize("text, expected", [
    ("30.9258", 30.9258), ("12.19 V", 12.19), ("-3.2dBm", -3.2), ("30 %", 30), ("42", 42), (" 7 ", 7),
    ("1e3", 1000.0), (".5", 0.5), ("N/A", None), ("None", None), ("", None), ("nan", None), ("inf", None),
    ("1e999", None), ("-1e999", None), ("9" * 65, None), ("1" * 64, int("1" * 64)), ("12 Volts per metre", None)])
def test_a_table_number_is_finite_and_bounded(text, expected):
    """What SONiC's platform daemons write, and what a hostile or broken one could: never NaN,
    never inf, never a 100,000-digit parse."""
    from sonic_agent.sonic.fields import number
    got = number(text)
    assert got == expected and type(got) is type(expected)

