"""Configuration: defaults, YAML, TELEGEN_* overrides, and one-line errors naming the field."""
import subprocess
import sys

import pytest

from sonic_agent import config as config_module
from sonic_agent.config import PAGE_KB, AgentConfig, config_file, load_config
from sonic_agent.errors import UserError


def test_defaults_fit_a_sonic_switch():
    cfg = load_config(None, environ={})
    assert cfg == AgentConfig()
    assert cfg.sonic.database_config == "/var/run/redis/sonic-db/database_config.json"
    assert cfg.export.prometheus.listen.startswith("127.0.0.1:")


def test_yaml_and_environment_override(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("log_format: text\nexport:\n  prometheus:\n    listen: 127.0.0.1:9999\n"
                    "  otlp:\n    headers:\n      x-tenant-id: ${TENANT_ID}\n")
    cfg = load_config(str(path), environ={"TELEGEN_PROBES__TOP_TALKERS": "64",
                                          "TELEGEN_EXPORT__OTLP__ENABLED": "true"})
    assert cfg.log_format == "text"
    assert cfg.export.prometheus.listen == "127.0.0.1:9999"
    assert cfg.probes.top_talkers == 64
    assert cfg.export.otlp.enabled is True
    assert cfg.export.otlp.headers == {"x-tenant-id": "${TENANT_ID}"}  # expanded at export time


@pytest.mark.parametrize("text, message", [
    ("export:\n  prometheus:\n    lisen: 1\n", "unknown key 'export.prometheus.lisen'"),
    ("probes:\n  top_talkers: many\n", "probes.top_talkers: expected int, got string"),
    ("probes:\n  enabled: 1\n", "probes.enabled: expected bool, got int"),
    ("export:\n  otlp:\n    protocol: smtp\n", "export.otlp.protocol: must be one of grpc, http"),
    ("probes: [1, 2]\n", "probes: expected a mapping, got list"),
    ("mirror:\n  enabled: true\n", "mirror.interface: required when mirror.enabled is true"),
])
def test_bad_config_names_the_field(tmp_path, text, message):
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load_config(str(path), environ={})


def test_bad_environment_override_names_the_field():
    with pytest.raises(UserError, match=r"mirror\.max_flows: expected int"):
        load_config(None, environ={"TELEGEN_MIRROR__MAX_FLOWS": "lots"})


def _run_cli(*argv, env=None):
    return subprocess.run([sys.executable, "-m", "sonic_agent", *argv], capture_output=True, text=True,
                          env=env, timeout=60)


@pytest.mark.parametrize("yaml_text, expected", [
    ("exporters: {}\n", "unknown key 'exporters'"),
    ("sonic:\n  reconnect_max_s: soon\n", "sonic.reconnect_max_s: expected float, got string 'soon'"),
])
def test_run_with_bad_config_exits_2_with_one_line(tmp_path, yaml_text, expected):
    path = tmp_path / "agent.yaml"
    path.write_text(yaml_text)
    result = _run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"telegen-sonic: config: {expected}"]
    assert "Traceback" not in result.stderr


def test_run_with_missing_database_config_names_the_path(tmp_path):
    missing = tmp_path / "nowhere" / "database_config.json"
    path = tmp_path / "agent.yaml"
    path.write_text(f"sonic:\n  database_config: {missing}\n")
    result = _run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"telegen-sonic: sonic.database_config: {missing} not found"]


def test_bpf_object_dir_is_outside_the_config_namespace(tmp_path, monkeypatch):
    """The eBPF object directory variable must not be read as a config override."""
    from sonic_agent.bpf import OBJECT_DIR_ENV, object_path
    assert not OBJECT_DIR_ENV.startswith("TELEGEN_")
    monkeypatch.setenv(OBJECT_DIR_ENV, str(tmp_path))
    assert load_config(None) == AgentConfig()
    assert object_path("port_probe.bpf.o") == tmp_path / "port_probe.bpf.o"


@pytest.mark.parametrize("key, value, message", [
    ("mirror.max_flows", "-5", "mirror.max_flows: must be >= 1, got -5"),
    ("mirror.max_flows", "100000000", "mirror.max_flows: must be <= 4194304, got 100000000"),
    ("export.otlp.queue_size", "0", "export.otlp.queue_size: must be >= 1, got 0"),
    ("export.otlp.interval_s", "0", "export.otlp.interval_s: must be >= 0.1, got 0.0"),
    ("probes.read_interval_s", "0", "probes.read_interval_s: must be >= 0.1, got 0.0"),
    ("probes.read_interval_s", ".nan", "probes.read_interval_s: must be a finite number, got nan"),
    ("export.otlp.interval_s", ".inf", "export.otlp.interval_s: must be a finite number, got inf"),
    ("probes.grpc_ports", "[8080, 70000]", "probes.grpc_ports[1]: must be <= 65535, got 70000"),
    ("probes.top_talker_sample", "-1", "probes.top_talker_sample: must be >= 0, got -1"),
    ("sonic.reconnect_max_s", "-1", "sonic.reconnect_max_s: must be >= 0.1, got -1.0"),
    ("mirror.vendor_header_len", "256", "mirror.vendor_header_len: must be <= 255, got 256"),
    ("mirror.ring_blocks", "0", "mirror.ring_blocks: must be >= 1, got 0"),
    ("mirror.ring_block_kb", "1", f"mirror.ring_block_kb: must be >= {PAGE_KB}, got 1"),
    ("mirror.ring_block_kb", str(PAGE_KB * 3 // 2),  # pages are >= 4 KB on Linux
     f"mirror.ring_block_kb: must be a multiple of the page size ({PAGE_KB} KB), got {PAGE_KB * 3 // 2}"),
    ("export.prometheus.listen", "127.0.0.1:99999", "export.prometheus.listen: port must be 0..65535, got 99999"),
    ("export.gnmi.listen", "50051", "export.gnmi.listen: must be host:port, got '50051'"),
])
def test_out_of_range_values_name_the_field(key, value, message):
    env = "TELEGEN_" + key.upper().replace(".", "__")
    with pytest.raises(UserError) as err:
        load_config(None, environ={env: value})
    assert str(err.value).startswith(f"config: {message}")


def test_ring_memory_is_bounded():
    with pytest.raises(UserError, match=r"^config: mirror\.ring_blocks: 1024 x mirror\.ring_block_kb 65536 exceeds"):
        load_config(None, environ={"TELEGEN_MIRROR__RING_BLOCKS": "1024", "TELEGEN_MIRROR__RING_BLOCK_KB": "65536"})


def test_edges_of_the_ranges_are_accepted():
    cfg = load_config(None, environ={"TELEGEN_MIRROR__MAX_FLOWS": "1", "TELEGEN_EXPORT__OTLP__QUEUE_SIZE": "1",
                                     "TELEGEN_PROBES__READ_INTERVAL_S": "0.1", "TELEGEN_PROBES__GRPC_PORTS": "[1, 65535]",
                                     "TELEGEN_MIRROR__VENDOR_HEADER_LEN": "0",
                                     "TELEGEN_EXPORT__PROMETHEUS__LISTEN": "127.0.0.1:0"})
    assert (cfg.mirror.max_flows, cfg.export.otlp.queue_size, cfg.probes.read_interval_s) == (1, 1, 0.1)
    assert cfg.probes.grpc_ports == [1, 65535] and cfg.export.prometheus.listen == "127.0.0.1:0"


def test_run_with_out_of_range_value_exits_2_with_one_line(tmp_path):
    path = tmp_path / "agent.yaml"
    path.write_text("mirror:\n  max_flows: -5\n")
    result = _run_cli("run", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["telegen-sonic: config: mirror.max_flows: must be >= 1, got -5"]


def test_the_operators_config_is_read_when_present_and_given_files_win(tmp_path, monkeypatch):
    """Without --config, /etc/telegen-sonic/telegen-sonic.yaml (the image's mounted config) when it
    exists; else none."""
    operator = tmp_path / "telegen-sonic.yaml"
    monkeypatch.setattr(config_module, "OPERATOR_CONFIG", str(operator))
    assert config_file(None) is None
    operator.write_text("tick_s: 2.5\n")
    assert config_file(None) == str(operator)
    assert load_config(config_file(None), environ={}).tick_s == 2.5
    assert config_file("/other.yaml") == "/other.yaml"
