"""The SLO engine off the lab: config errors, SLI kinds, budgeting, composite, event and
maintenance windows, policies' hysteresis, persistence, webhook retries, the STATE_DB writer.

Snapshots are built by hand (the Snapshot is the engine's only input); the webhook receiver,
redis and the history files are real.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.config import load_config
from sonic_agent.records import BgpPeer, PortCounters, PortState, Row, Snapshot
from sonic_agent.slo.actions import Actions
from sonic_agent.slo.engine import SloEngine
from sonic_agent.slo.spec import WebhookConfig
from sonic_agent.slo.store import JOURNAL
from sonic_agent.sonic.writer import TableWriter
from tests.conftest import assert_catalogued, wait_until

T0 = 1_800_000_000.0
UPLINK = {"kind": "availability", "ports": ["uplinks"]}


def config(tmp_path, objectives, **slo):
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"slo": {"state_dir": str(tmp_path / "state"), "interval_s": 1, "bucket_s": 1,
                                            "burn_alerts": [{"name": "page", "long": "5m", "short": "1m",
                                                             "factor": 5.0}],
                                            "objectives": objectives, **slo}}))
    return load_config(str(path))


def engine(cfg, actions=None):
    return SloEngine(cfg.slo, CATALOGUE, 1.0, actions or Actions(cfg.slo.webhook))


def snap(t, down=(), counters=(), maintenance=()):
    ports = [PortState(name, admin_status="up", oper_status="down" if name in down else "up")
             for name in ("Ethernet0", "Ethernet4", "Ethernet8")]
    return Snapshot(timestamp=t, ports=ports, port_counters=list(counters),
                    bgp_peers=[BgpPeer("10.0.0.1", interface="Ethernet0"), BgpPeer("10.0.0.3", interface="Ethernet4")],
                    families={"slo_maintenance": list(maintenance)})


def run(e, seconds, down_between=(None, None), start=T0, **kw):
    lo, hi = down_between
    for i in range(seconds):
        down = ("Ethernet0",) if lo is not None and lo <= i < hi else ()
        e.on_snapshot(snap(start + i, down, **kw))
    return e.evaluate(now=start + seconds - 1)


@pytest.mark.parametrize("slo, message", [
    ({"objective": 1.0}, "slo.objectives[0].objective: must be in (0, 1), got 1.0"),
    ({"objective": 0.0}, "slo.objectives[0].objective: must be in (0, 1), got 0.0"),
    ({"sli": {"kind": "latency"}}, "slo.objectives[0].sli.kind: unknown SLI kind 'latency'"),
    ({"window": "2m"}, "slo.objectives[0].window: 2m is shorter than the longest burn window (5m)"),
    ({"sli": {"kind": "availability", "ports": ["downlinks:x"]}},
     "slo.objectives[0].sli.ports[0]: unknown port selection 'downlinks:x'"),
    ({"sli": {"kind": "availability", "ports": ["kind:tunnel"]}},
     "slo.objectives[0].sli.ports[0]: unknown port selection 'kind:tunnel'"),
    ({"sli": {"kind": "events", "error": ["sonic_port_nope_total"], "total": ["sonic_port_packets_total"]}},
     "slo.objectives[0].sli.error[0]: no catalogue metric 'sonic_port_nope_total'"),
    ({"sli": {"kind": "bgp", "ports": ["Ethernet0"]}}, "slo.objectives[0].sli.ports: does not apply to kind bgp"),
    ({"window": "soon"}, "slo.objectives[0].window: not a duration like 30d"),
])
def test_config_errors_name_the_field_in_one_line(tmp_path, slo, message):
    """Acceptance 1: one line on stderr naming the field, exit 2, no traceback."""
    objective = {"name": "a", "objective": 0.99, "window": "1h", "sli": UPLINK, **slo}
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump({"slo": {"burn_alerts": [{"long": "5m", "short": "1m"}],
                                            "objectives": [objective]}}))
    out = subprocess.run([sys.executable, "-m", "sonic_agent", "slo", "rules", "--config", str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.startswith(f"telegen-sonic: config: {message}") and out.stderr.count("\n") == 1, out.stderr


def test_occurrences_count_members_and_timeslices_count_seconds(tmp_path):
    cfg = config(tmp_path, [
        {"name": "occ", "objective": 0.9, "window": "1h", "sli": {"kind": "availability", "ports": ["Ethernet*"]}},
        {"name": "ts", "objective": 0.9, "window": "1h", "budgeting": "timeslices",
         "sli": {"kind": "availability", "ports": ["Ethernet*"]}},
        {"name": "up", "objective": 0.9, "window": "1h", "sli": UPLINK}])
    s = run(engine(cfg), 101, (51, 61))
    assert (s["occ"].events, s["occ"].bad) == (300, 10)  # 3 ports x 100 s (the first Snapshot counts no time)
    assert (s["ts"].events, s["ts"].bad) == (100, 10)  # any port down makes the second bad
    assert (s["up"].events, s["up"].bad) == (200, 10)  # uplinks: the two ports BGP neighbors are reached through
    assert s["ts"].remaining == pytest.approx(0, abs=1e-9) and s["ts"].burn[300.0] == pytest.approx(1.0)
    assert s["ts"].burn[60.0] == pytest.approx(10 / 60 / 0.1)
    assert s["occ"].consumers == [("Ethernet0", pytest.approx(10 / (300 * 0.1)))]


def test_composite_is_the_weighted_mean_and_names_its_components(tmp_path):
    cfg = config(tmp_path, [
        {"name": "a", "objective": 0.9, "window": "1h", "sli": UPLINK},
        {"name": "b", "objective": 0.9, "window": "1h", "sli": {"kind": "availability", "ports": ["Ethernet8"]}},
        {"name": "c", "objective": 0.95, "window": "1h", "sli": {"kind": "composite"},
         "components": [{"slo": "a", "weight": 3}, {"slo": "b", "weight": 1}]}])
    s = run(engine(cfg), 101, (51, 61))
    error = (3 * 10 / 200 + 1 * 0) / 4
    assert s["c"].sli == pytest.approx(1 - error) and s["c"].remaining == pytest.approx(1 - error / 0.05)
    assert [c for c, _ in s["c"].consumers] == ["a"]


def test_error_ratio_counts_counter_increases_and_event_windows_cost_more(tmp_path):
    start, end = "2027-01-15T08:00:00Z", "2027-01-15T09:00:00Z"  # T0 is 2027-01-15T08:00:00Z
    cfg = config(tmp_path, [{"name": "e", "objective": 0.99, "window": "1h",
                             "sli": {"kind": "error_ratio", "ports": ["Ethernet0"]},
                             "events": [{"name": "launch", "start": start, "end": end, "objective": 0.999}]}])
    e = engine(cfg)
    for i in range(11):  # 100 packets and 1 error a second, in a critical period from T0 + 5
        values = {"port.in_ucast_pkts": 100.0 * i, "port.in_errors": float(i)}
        e.on_snapshot(snap(T0 - 5 + i, counters=[PortCounters("Ethernet0", values)]))
    s = e.evaluate(now=T0 + 5)["e"]
    assert s.events == pytest.approx(10 * 101)
    assert s.bad == pytest.approx(4 * 1 + 6 * 1 * (0.01 / 0.001))  # from T0 on, inside the event window: 10x


def test_maintenance_from_config_db_rows_counts_nothing(tmp_path):
    cfg = config(tmp_path, [{"name": "m", "objective": 0.9, "window": "1h", "sli": UPLINK},
                            {"name": "other", "objective": 0.9, "window": "1h", "sli": UPLINK}])
    window = Row(("w1",), {"slo_maintenance.start": T0 + 40, "slo_maintenance.end": T0 + 70,
                           "slo_maintenance.slos": "m"})
    s = run(engine(cfg), 101, (51, 61), maintenance=[window])
    assert s["m"].bad == 0 and s["m"].events == pytest.approx(2 * 70)
    assert s["other"].bad == 10


def test_thresholds_fire_once_rearm_silently_and_fire_again(tmp_path):
    fired = []

    class Recorder(Actions):
        def fire(self, event, actions):
            fired.append((event["slo"], event["event"], event.get("policy") or event.get("alert")))

    cfg = config(tmp_path, [{"name": "p", "objective": 0.5, "window": "1h", "budgeting": "timeslices",
                             "sli": {"kind": "availability", "ports": ["Ethernet0"]}}])
    e = engine(cfg, Recorder(cfg.slo.webhook))
    t = T0
    for phase, (link_down, seconds) in enumerate(((False, 40), (True, 45), (False, 60), (True, 60))):
        for _ in range(seconds):
            e.on_snapshot(snap(t, ("Ethernet0",) if link_down else ()))
            e.evaluate(now=t)
            t += 1
        if phase == 1:
            assert [f[2] for f in fired] == ["alert-oncall", "freeze-noncritical", "freeze-all"]
        if phase == 2:  # recovered past 25 % + 5 %: two re-armed, nothing fired
            assert len(fired) == 3 and e.statuses["p"].level == 1 and e.statuses["p"].remaining >= 0.3
    assert [f[2] for f in fired][3:] == ["freeze-noncritical", "freeze-all"]  # only the re-armed fire again


def test_history_survives_a_restart_and_skips_torn_or_changed_records(tmp_path):
    objectives = [{"name": "r", "objective": 0.9, "window": "1h", "sli": UPLINK}]
    cfg = config(tmp_path, objectives)
    first = engine(cfg)
    before = run(first, 101, (51, 61))["r"]
    journal = tmp_path / "state" / JOURNAL
    with journal.open("a") as out:
        out.write('{"slo": "r", "d": [3600.0, 1.0], "n": [1e9, 1e9]')  # torn: the crash cut it, no newline
    again = engine(config(tmp_path, objectives))
    again.restore()
    after = again.evaluate(now=T0 + 100, fire=False)["r"]
    assert (after.events, after.bad, after.remaining, after.level) == (before.events, before.bad, before.remaining,
                                                                      before.level)
    assert again.store.counters["slo_state_records_skipped_total"] == 1
    changed = engine(config(tmp_path, [dict(objectives[0], window="2h")]))
    changed.restore()
    assert changed.evaluate(now=T0 + 100, fire=False)["r"].events == 0  # a new window starts afresh
    assert_catalogued(again.counters())


class Receiver:
    def __init__(self, codes):
        self.codes, self.bodies = list(codes), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                outer.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(outer.codes.pop(0) if outer.codes else 204)
                self.end_headers()

            def log_message(self, *args):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


@pytest.mark.parametrize("codes, sent, retries, failed", [
    ([500, 503], 1, 2, 0),  # retried past two 5xx
    ([500, 500, 500], 0, 2, 1),  # given up after its retries
    ([400], 0, 0, 1),  # a 4xx is not retried
])
def test_webhook_retries_are_bounded_and_counted(codes, sent, retries, failed):
    receiver = Receiver(codes)
    actions = Actions(WebhookConfig(url=receiver.url, retries=2, backoff_s=0.01, timeout_s=2))
    actions.start()
    try:
        actions.fire({"event": "slo.budget.threshold", "slo": "x", "policy": "p", "remaining": 0.4,
                      "time": "now"}, ["webhook"])
        assert wait_until(lambda: actions.counters()["slo_webhook_sent_total"] + actions.counters()[
            "slo_webhook_failed_total"] == 1, 10)
        c = actions.counters()
        assert (c["slo_webhook_sent_total"], c["slo_webhook_retries_total"], c["slo_webhook_failed_total"]) == (
            sent, retries, failed)
        assert len(receiver.bodies) == retries + 1 and receiver.bodies[0]["slo"] == "x"
    finally:
        actions.stop()
        receiver.server.shutdown()


def test_state_db_writer_replaces_the_table(redis_server):
    client = redis_server.client(6)
    client.hset("TELEGEN_SLO_TABLE|gone", "level", "ok")
    client.hset("PORT_TABLE|Ethernet0", "oper_status", "up")
    writer = TableWriter(lambda: redis_server.client(6), "TELEGEN_SLO_TABLE")
    writer.replace({"a": {"level": "freeze-all", "remaining": "-0.1"}})
    assert client.hgetall("TELEGEN_SLO_TABLE|a") == {"level": "freeze-all", "remaining": "-0.1"}
    assert not client.exists("TELEGEN_SLO_TABLE|gone") and client.exists("PORT_TABLE|Ethernet0")


def test_slo_rows_reach_prometheus_otlp_and_gnmi_by_the_catalogue(tmp_path):
    from sonic_agent.export.gnmi_paths import leaves, EVERYTHING
    from sonic_agent.export.otlp_encode import MetricsEncoder, encode_events
    from sonic_agent.export.prometheus_encode import snapshot_text
    from sonic_agent.catalogue import STATE

    cfg = config(tmp_path, [{"name": "x", "objective": 0.9, "window": "1h", "sli": UPLINK}])
    e = engine(cfg)
    run(e, 101, (51, 61))
    exported = Snapshot(timestamp=T0 + 100, families=e.rows())
    text, cut = snapshot_text(exported, CATALOGUE, openmetrics=False, max_series=10_000)
    assert cut == 0
    from prometheus_client.parser import text_string_to_metric_families
    got = {(m.name, tuple(sorted(m.labels.items()))): m.value for f in text_string_to_metric_families(text)
           for m in f.samples if m.name.startswith("telegen_slo")}
    x = (("slo", "x"),)
    assert got[("telegen_slo_level", x)] == 1  # remaining 1 - (10 / 200) / 0.1 = 0.5: the 50 % policy
    assert (got[("telegen_slo_events_total", x)], got[("telegen_slo_bad_events_total", x)]) == (200, 10)
    assert got[("telegen_slo_burn_rate", x + (("window", "5m"),))] == pytest.approx(0.5)
    assert got[("telegen_slo_consumer_budget_ratio", (("consumer", "Ethernet0"), ("slo", "x")))] == pytest.approx(0.5)
    assert got[("telegen_slo_burn_alert_firing", (("alert", "page:5m/1m"), ("slo", "x")))] == 0
    assert got[("telegen_slo_info", (("level_name", "alert-oncall"), ("slo", "x"), ("window", "1h")))] == 1
    paths = {"/".join(n + "".join(f"[{k}={v}]" for k, v in keys) for n, keys in p): leaf
             for p, leaf in leaves(exported, [EVERYTHING]).items()}
    level = paths["telegen/slos/slo[name=x]/state/level"]
    assert (level.value, level.kind) == (1, STATE)  # TARGET_DEFINED and ON_CHANGE send it when it changes
    assert paths["telegen/slos/slo[name=x]/windows/window[name=5m]/state/burn-rate"].value == pytest.approx(0.5)
    request, points = MetricsEncoder("cumulative", T0).encode(exported)
    names = {m.name for m in request.resource_metrics[0].scope_metrics[0].metrics}
    assert {"telegen.slo.error_budget.remaining", "telegen.slo.burn_rate", "telegen.slo.level"} <= names
    event = {"event": "slo.budget.threshold", "slo": "x", "policy": "freeze-all", "remaining": -0.05,
             "burn_rates": {"5m": 0.5}, "time": "2027-01-15T08:01:40Z", "level": 3}
    record = encode_events(exported, [event]).resource_logs[0].scope_logs[0].log_records[0]
    attrs = {a.key: a.value for a in record.attributes}
    assert record.event_name == "slo.budget.threshold"
    assert attrs["telegen.slo.name"].string_value == "x" and attrs["telegen.slo.burn_rate.5m"].double_value == 0.5
