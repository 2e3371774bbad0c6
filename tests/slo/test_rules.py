"""`telegen-sonic slo rules` passes `promtool check rules`, and the alerts pass the shipped
`promtool test rules` tests (tests/slo/promtool/alerts_test.yaml); `slo sloth` writes a Sloth spec."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import require

HERE = Path(__file__).parent / "promtool"
EVERY_KIND = [
    {"name": "avail", "objective": 0.999, "window": "30d", "sli": {"kind": "availability", "ports": ["uplinks"]}},
    {"name": "errors", "objective": 0.9999, "window": "30d", "sli": {"kind": "error_ratio", "ports": ["Ethernet*"]}},
    {"name": "bgp", "objective": 0.999, "window": "30d", "budgeting": "timeslices", "sli": {"kind": "bgp"}},
    {"name": "cpu", "objective": 0.99, "window": "30d", "sli": {"kind": "cpu_path", "classes": ["bgp", "lacp"]}},
    {"name": "mirror", "objective": 0.99, "window": "30d", "sli": {"kind": "mirror_loss"}},
    {"name": "fec", "objective": 0.999, "window": "30d", "sli": {
        "kind": "events", "error": ["sonic_port_fec_uncorrectable_frames_total"],
        "total": ["sonic_port_fec_correctable_frames_total", "sonic_port_fec_uncorrectable_frames_total"]}},
    {"name": "psu", "objective": 0.999, "window": "30d", "sli": {"kind": "bool", "metric": "sonic_psu_status_ok"}},
    {"name": "switch", "service": "fabric", "objective": 0.999, "window": "30d", "sli": {"kind": "composite"},
     "components": [{"slo": "avail", "weight": 3}, {"slo": "bgp", "weight": 1}]},
]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "sonic_agent", "slo", *args], capture_output=True, text=True)


def test_rules_pass_promtool_check_for_every_sli_kind(tmp_path):
    require(shutil.which("promtool") is not None, "needs promtool (apt-get install prometheus)")
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"slo": {"objectives": EVERY_KIND}}))
    out = cli("rules", "--config", str(config), "--output", str(tmp_path / "rules.yaml"))
    assert out.returncode == 0, out.stderr
    check = subprocess.run(["promtool", "check", "rules", str(tmp_path / "rules.yaml")], capture_output=True, text=True)
    assert check.returncode == 0 and "SUCCESS" in check.stdout, check.stdout + check.stderr
    records = {r["record"] for g in yaml.safe_load((tmp_path / "rules.yaml").read_text())["groups"]
               for r in g["rules"] if "record" in r}
    assert {"slo:sli_error:ratio_rate5m", "slo:sli_error:ratio_rate30m", "slo:sli_error:ratio_rate1h",
            "slo:sli_error:ratio_rate2h", "slo:sli_error:ratio_rate6h", "slo:sli_error:ratio_rate1d",
            "slo:sli_error:ratio_rate3d", "slo:sli_error:ratio_rate30d", "slo:objective:ratio",
            "slo:error_budget:ratio", "slo:time_period:days", "slo:current_burn_rate:ratio",
            "slo:period_burn_rate:ratio", "slo:period_error_budget_remaining:ratio", "sloth_slo_info"} <= records


def test_alerts_pass_the_shipped_promtool_tests(tmp_path):
    require(shutil.which("promtool") is not None, "needs promtool (apt-get install prometheus)")
    out = cli("rules", "--config", str(HERE / "agent.yaml"), "--output", str(tmp_path / "rules.yaml"))
    assert out.returncode == 0, out.stderr
    shutil.copy(HERE / "alerts_test.yaml", tmp_path)
    test = subprocess.run(["promtool", "test", "rules", "alerts_test.yaml"], cwd=tmp_path, capture_output=True,
                          text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_sloth_spec_has_one_document_per_service(tmp_path):
    config = tmp_path / "agent.yaml"
    config.write_text(yaml.safe_dump({"slo": {"objectives": EVERY_KIND}}))
    out = cli("sloth", "--config", str(config))
    assert out.returncode == 0, out.stderr
    docs = list(yaml.safe_load_all(out.stdout))
    assert [(d["version"], d["service"], len(d["slos"])) for d in docs] == [("prometheus/v1", "switch", 7),
                                                                             ("prometheus/v1", "fabric", 1)]
    avail = docs[0]["slos"][0]
    assert avail["objective"] == 99.9
    assert avail["sli"]["events"] == {
        "error_query": 'sum(rate(telegen_slo_bad_events_total{slo="avail"}[{{.window}}]))',
        "total_query": 'sum(rate(telegen_slo_events_total{slo="avail"}[{{.window}}]))'}
    assert "{{.window}}" in docs[1]["slos"][0]["sli"]["raw"]["error_ratio_query"]
