"""Configuration: defaults, YAML, TELEGEN_* overrides, and one-line errors naming the field."""
import subprocess
import sys

import pytest

from sonic_agent.config import AgentConfig, load_config
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
