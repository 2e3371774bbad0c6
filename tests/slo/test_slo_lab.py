"""SLOs on the lab (issue 15, acceptance 2 to 5): a neighbor link taken down for a measured time.

Windows are scaled down by config: SLO window 1 h, burn windows 5 m and 2 m, buckets and the
evaluation interval 1 s, objective 0.8 (so the budget is spent within a minute). The agent runs
in the lab's switch namespace with two SLOs over the same uplinks (`uplinks`: the ports BGP
neighbors are reached through), one of them under a maintenance window the test opens with
`telegen-sonic slo maintenance start`; Debian's Prometheus, in the same namespace, scrapes the
agent and evaluates the rules `telegen-sonic slo rules` writes; a webhook receiver there too.

The scenario (module fixture): the SLO starts under a maintenance window, closed once Prometheus
holds its counters at 0 (so Prometheus sees every event from the first); count for WARMUP_S, take Ethernet0 down for DOWN_S (measured),
bring it up, wait for budget remaining to recover past the 25 % threshold's hysteresis. The
tests then compare what the agent, STATE_DB, the webhook receiver and Prometheus say with what
the measured downtime gives; the last one SIGKILLs the agent mid-outage and restarts it.
"""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sonic_agent.sonic.dbconfig import load_database_config
from tests.conftest import built_in_lab, wait_until
from tests.export.prometheus_peer import PrometheusServer, enter_netns

METRICS_PORT, WEBHOOK_PORT = 9131, 9132
OBJECTIVE, WARMUP_S, DOWN_S = 0.8, 120.0, 34.0
SLO, MAINT = "uplinks", "uplinks-maint"
INTERVAL = 1.0  # slo.interval_s: the tolerance "within one interval"
LAB_LAG = 0.6  # the lab's state daemon polls link state every 0.5 s


@pytest.fixture(scope="module")
def lab():
    with built_in_lab("s") as layout:
        yield layout


@pytest.fixture(scope="module")
def in_lab(lab):
    pool = ThreadPoolExecutor(1, initializer=enter_netns, initargs=(lab.switch_ns,))
    yield lambda fn: pool.submit(fn).result()
    pool.shutdown()


class Webhook:
    """An HTTP receiver in the lab namespace, keeping every JSON body POSTed to it."""

    def __init__(self, in_lab):
        self.events = []
        received = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = in_lab(lambda: ThreadingHTTPServer(("127.0.0.1", WEBHOOK_PORT), Handler))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def budget_events(self, slo):
        return [e for e in self.events if e["slo"] == slo and e["event"] == "slo.budget.threshold"]


def agent_config(lab, tmp):
    policy = lambda name, below: {"name": name, "below": below, "actions": ["log", "webhook", "state_db"]}  # noqa
    availability = {"kind": "availability", "ports": ["uplinks"]}
    config = {
        "sonic": {"database_config": str(lab.db_config)}, "probes": {"enabled": False},
        "export": {"prometheus": {"listen": f"127.0.0.1:{METRICS_PORT}"}},
        "slo": {
            "state_dir": str(tmp / "state"), "interval_s": INTERVAL, "bucket_s": 1, "hysteresis": 0.05,
            "webhook": {"url": f"http://127.0.0.1:{WEBHOOK_PORT}/slo", "retries": 2, "backoff_s": 0.2},
            "burn_alerts": [{"name": "page", "long": "5m", "short": "2m", "factor": 0.8,
                             "actions": ["log", "webhook"]}],
            "policies": [policy("alert-oncall", 0.5), policy("freeze-noncritical", 0.25), policy("freeze-all", 0.0)],
            "objectives": [{"name": name, "objective": OBJECTIVE, "window": "1h", "budgeting": "timeslices",
                            "sli": availability} for name in (SLO, MAINT)]}}
    path = tmp / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Agent:
    def __init__(self, lab, in_lab, config):
        self.lab, self.in_lab, self.config, self.proc = lab, in_lab, config, None

    def start(self):
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.lab.switch_ns, sys.executable, "-m", "sonic_agent",
                                      "run", "--config", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        assert wait_until(lambda: self.proc.poll() is not None or self.slo(SLO), 30), "no SLO series in 30 s"
        assert self.proc.poll() is None, self.proc.stderr.read()[-2000:]

    def scrape(self):
        def get():
            try:
                return requests.get(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=2).text
            except requests.ConnectionError:
                return ""
        return self.in_lab(get)

    def slo(self, name):
        """{series name (window or consumer appended): value} of one SLO, from one scrape."""
        out = {}
        for family in text_string_to_metric_families(self.scrape()):
            for s in family.samples:
                if s.labels.get("slo") == name and s.name.startswith("telegen_slo_"):
                    extra = s.labels.get("window") or s.labels.get("consumer") or s.labels.get("alert") or ""
                    out[s.name + (f"[{extra}]" if extra else "")] = s.value
        return out

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        return self.proc.communicate(timeout=30)[1]


def link(lab, state):
    subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", "Ethernet0", state], check=True)


@pytest.fixture(scope="module")
def scenario(lab, in_lab, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("slo")
    config = agent_config(lab, tmp)
    rules = tmp / "rules.yaml"
    subprocess.run([sys.executable, "-m", "sonic_agent", "slo", "rules", "--config", str(config), "--output",
                    str(rules)], check=True)
    prom = PrometheusServer(tmp, f"127.0.0.1:{METRICS_PORT}", netns=lab.switch_ns, rules=rules).start()
    webhook = Webhook(in_lab)
    agent = Agent(lab, in_lab, config)
    db = ["--db-config", str(lab.db_config)]
    run = {"agent": agent, "prom": prom, "webhook": webhook, "lab": lab}
    def maintenance(*args):
        return subprocess.run([sys.executable, "-m", "sonic_agent", "slo", "maintenance", *args, *db], check=True,
                              capture_output=True, text=True).stdout.strip()
    try:
        # SLO counts nothing until Prometheus has its counters at 0: from then on both see every event
        maintenance("start", "warmup", "--slo", SLO, "--reason", "until Prometheus scrapes")
        agent.start()
        prom.wait(lambda: prom.query(f'telegen_slo_events_total{{slo="{SLO}"}} == 0'), 30, "scraping the SLO at 0")
        maintenance("stop", "warmup")
        started = time.time()
        assert wait_until(lambda: agent.slo(SLO).get("telegen_slo_events_total", 0) >= WARMUP_S, WARMUP_S + 30)
        window = maintenance("start", "--slo", MAINT, "--duration", "10m", "--reason", "planned outage")
        assert wait_until(lambda: agent.slo(MAINT).get("telegen_slo_maintenance") == 1, 5), "maintenance not seen"
        run["before"] = {name: agent.slo(name) for name in (SLO, MAINT)}
        run["down_at"] = time.time()
        link(lab, "down")
        wait_until(lambda: False, DOWN_S)  # the outage itself: nothing to wait for but time
        link(lab, "up")
        run["up_at"] = time.time()
        run["down_s"] = run["up_at"] - run["down_at"]
        run["compare_at"] = time.time() + 8
        wait_until(lambda: time.time() >= run["compare_at"], 10)
        run["after"] = agent.slo(SLO)
        run["elapsed"] = time.time() - started
        maintenance("stop", window)
        run["events_at_up"] = len(webhook.events)
        # recovery: remaining back past 25 % + hysteresis re-arms two thresholds, and fires nothing
        assert wait_until(lambda: agent.slo(SLO).get("telegen_slo_error_budget_remaining_ratio", -1) >= 0.31, 180)
        run["recovered"] = agent.slo(SLO)
        run["state_db"] = json.loads(subprocess.run([sys.executable, "-m", "sonic_agent", "show", "slo", "--format",
                                                     "json", *db], check=True, capture_output=True, text=True).stdout)
        yield run
    finally:
        link(lab, "up")
        if agent.proc is not None and agent.proc.poll() is None:
            agent.stop()
        webhook.server.shutdown()
        prom.stop()


def test_budget_and_burn_rates_follow_the_measured_downtime(scenario):
    """Acceptance 2: timeslices of 1 s over the uplinks: the downtime's seconds are the bad ones."""
    after, down = scenario["after"], scenario["down_s"]
    total, bad = after["telegen_slo_events_total"], after["telegen_slo_bad_events_total"]
    assert abs(total - scenario["elapsed"]) <= 3 * INTERVAL  # every second the agent ran was counted
    assert abs(bad - down) <= INTERVAL + LAB_LAG, (bad, down)
    tolerance = (INTERVAL + LAB_LAG) / ((1 - OBJECTIVE) * total)
    remaining = 1 - down / ((1 - OBJECTIVE) * total)
    assert abs(after["telegen_slo_error_budget_remaining_ratio"] - remaining) <= tolerance, (after, remaining)
    # the 2 m window holds the whole outage; the 5 m one everything since the start
    expected = {"2m": down / ((1 - OBJECTIVE) * 120), "5m": down / ((1 - OBJECTIVE) * min(total, 300))}
    for window, rate in expected.items():
        got = after[f"telegen_slo_burn_rate[{window}]"]
        assert abs(got - rate) <= rate * (INTERVAL + LAB_LAG) / down + 0.01 * rate, (window, got, rate)
    assert after["telegen_slo_consumer_budget_ratio[Ethernet0]"] == pytest.approx(
        1 - after["telegen_slo_error_budget_remaining_ratio"], rel=1e-6)
    # both windows burn faster than 0.8x: the page alert fired during the outage, and has not re-armed
    assert after["telegen_slo_burn_alert_firing[page:5m/2m]"] == 1


def test_webhook_gets_each_threshold_once_in_order_and_recovery_fires_nothing(scenario):
    events = scenario["webhook"].budget_events(SLO)
    assert [e["policy"] for e in events] == ["alert-oncall", "freeze-noncritical", "freeze-all"]
    assert [e["level"] for e in events] == [1, 2, 3]
    assert [e["threshold"] for e in events] == [0.5, 0.25, 0.0]
    assert all(e["remaining"] <= e["threshold"] for e in events)
    burns = [e for e in scenario["webhook"].events if e["event"] == "slo.burn_rate.alert"]
    assert [(b["slo"], b["alert"], b["long"], b["short"]) for b in burns] == [(SLO, "page", "5m", "2m")]
    assert len(scenario["webhook"].events) == scenario["events_at_up"]  # nothing while recovering
    assert scenario["recovered"]["telegen_slo_level"] == 1  # 25 % and 0 % re-armed, 50 % not yet


def test_state_db_shows_the_level(scenario):
    entries = {e["slo"]: e for e in scenario["state_db"]}
    assert entries[SLO]["level"] == "alert-oncall" and entries[SLO]["level_index"] == "1"
    assert entries[SLO]["last_event_name"] == "freeze-all"
    assert entries[SLO]["remaining"] >= 0.31 and set(entries[SLO]["burn_rates"]) == {"2m", "5m", "1h"}
    assert entries[MAINT]["level"] == "ok"
    client = load_database_config(str(scenario["lab"].db_config)).connect("STATE_DB")
    assert client.hget(f"TELEGEN_SLO_TABLE|{SLO}", "level") == "alert-oncall"


def test_downtime_inside_maintenance_consumes_no_budget(scenario):
    """Acceptance 3: the same outage, under a maintenance window: no bad event, budget untouched."""
    before, after = scenario["before"][MAINT], scenario["recovered"]
    maint = scenario["agent"].slo(MAINT)
    assert maint["telegen_slo_bad_events_total"] == 0
    assert maint["telegen_slo_error_budget_remaining_ratio"] == 1
    assert maint["telegen_slo_level"] == 0 and maint["telegen_slo_maintenance"] == 0  # stopped since
    assert not scenario["webhook"].budget_events(MAINT)
    # nothing was counted while the window was open (the outage and the seconds around it)
    counted = maint["telegen_slo_events_total"] - before["telegen_slo_events_total"]
    assert counted < after["telegen_slo_events_total"] - scenario["before"][SLO]["telegen_slo_events_total"] - DOWN_S


def test_prometheus_evaluating_the_rules_agrees_with_the_agent(scenario):
    """Acceptance 5: at instants where Prometheus evaluated the generated rules, the recorded
    ratios against the agent's own series from the same scrape: SLI and budget remaining within
    0.01, burn rates within 1 %."""
    prom = scenario["prom"]
    sel = f'{{sloth_slo="{SLO}"}}'
    end = scenario["compare_at"]
    stamps = prom.query(f"timestamp(slo:period_error_budget_remaining:ratio{sel})", at=end)
    assert stamps, "the rules recorded nothing"
    compared = 0
    for at in (float(stamps[0]["value"][1]) - k for k in (0, 2, 4)):
        def one(expr):
            result = prom.query(expr, at=at)
            assert len(result) == 1, (expr, result)
            return float(result[0]["value"][1])
        agent = {w: one(f'telegen_slo_burn_rate{{slo="{SLO}",window="{w}"}}') for w in ("2m", "5m", "1h")}
        for w, rate in agent.items():
            assert one(f"slo:sli_error:ratio_rate{w}{sel}") / (1 - OBJECTIVE) == pytest.approx(rate, rel=0.01), w
        assert one(f"slo:period_error_budget_remaining:ratio{sel}") == pytest.approx(
            one(f'telegen_slo_error_budget_remaining_ratio{{slo="{SLO}"}}'), abs=0.01)
        assert 1 - one(f"slo:sli_error:ratio_rate1h{sel}") == pytest.approx(
            one(f'telegen_slo_sli_ratio{{slo="{SLO}"}}'), abs=0.01)
        assert one(f"slo:current_burn_rate:ratio{sel}") == pytest.approx(agent["2m"], rel=0.01)
        compared += 1
    assert compared == 3
    assert prom.query(f'ALERTS{{alertname="TelegenSLOPageBurnRate",slo="{SLO}"}}', at=end)


def test_sigkill_and_restart_continue_the_budget(scenario):
    """Acceptance 4: killed mid-outage, restarted: events and bad events continue from what was
    persisted, at most one interval lost; what fired stays fired (nothing fires again)."""
    agent, lab = scenario["agent"], scenario["lab"]
    link(lab, "down")
    wait_until(lambda: False, 4)
    last = agent.slo(SLO)
    agent.stop(signal.SIGKILL)
    killed_at = time.time()
    link(lab, "up")
    fired = len(scenario["webhook"].events)
    agent.start()
    first = agent.slo(SLO)
    counted_since = time.time() - killed_at  # at most this much was counted by the new agent
    e1, b1 = last["telegen_slo_events_total"], last["telegen_slo_bad_events_total"]
    e2, b2 = first["telegen_slo_events_total"], first["telegen_slo_bad_events_total"]
    assert e1 - INTERVAL - 1 <= e2 <= e1 + counted_since + INTERVAL + 1, (e1, e2)
    assert b1 - INTERVAL - 1 <= b2 <= b1 + INTERVAL + 1, (b1, b2)  # the link is up: no new bad ones
    low = 1 - (b1 + INTERVAL + 1) / ((1 - OBJECTIVE) * (e1 - INTERVAL - 1))
    high = 1 - (b1 - INTERVAL - 1) / ((1 - OBJECTIVE) * (e1 + counted_since + INTERVAL + 1))
    assert low <= first["telegen_slo_error_budget_remaining_ratio"] <= high
    # the level too, give or take the one evaluation between the last scrape and the kill
    assert first["telegen_slo_level"] - last["telegen_slo_level"] in (0, 1)
    # thresholds fired before the kill stay fired: were they forgotten, all would fire again at once
    assert wait_until(lambda: agent.slo(SLO).get("telegen_slo_events_total", 0) > e2 + 3, 10)
    assert not [e for e in scenario["webhook"].events[fired:] if e["event"] == "slo.budget.threshold"]
