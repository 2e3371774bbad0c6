"""The agent's SLOs for a fleet's Prometheus: recording and alert rules with Sloth's names, and a Sloth spec.

Both are written over the counters every agent exports for each SLO, `telegen_slo_events_total`
and `telegen_slo_bad_events_total` (what the engine counts: maintenance left out, event
windows weighed, port selections such as `uplinks` resolved on the switch), so Prometheus
computes from the same events the engine does. Per SLO and window (each burn window and the
SLO's own): `slo:sli_error:ratio_rate<w>` = increase of bad / increase of all events (the
SLO's window too: Sloth averages its 5m ratios there, which differs from the engine when the
event rate varies); `slo:objective:ratio`, `slo:error_budget:ratio`, `slo:time_period:days`,
`slo:current_burn_rate:ratio` (the shortest window), `slo:period_burn_rate:ratio`,
`slo:period_error_budget_remaining:ratio`, `sloth_slo_info`. A composite's ratios are its
components' weighted mean. Alerts: each burn alert name (page, ticket) fires when any of its
window pairs burns faster than its factor over both windows (Sloth's multiwindow
multi-burn-rate); each budget policy fires at its threshold; a missing events series fires
after 10 minutes (Pyrra's absent alert).
"""
from __future__ import annotations

import re
from collections import OrderedDict
from typing import Dict, List, Sequence

import yaml

from .policy import burn_alerts
from .spec import ObjectiveConfig, SloConfig, duration_text, seconds

ABSENT_FOR = "10m"


def _labels(o: ObjectiveConfig) -> Dict[str, str]:
    return {"sloth_id": f"{o.service}-{o.name}", "sloth_service": o.service, "sloth_slo": o.name}


def _selector(labels: Dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _by(group_by: Sequence[str]) -> str:
    return f" by ({', '.join(group_by)})" if group_by else ""


def error_ratio(o: ObjectiveConfig, by_name: Dict[str, ObjectiveConfig], window: str, group_by: Sequence[str]) -> str:
    """The SLO's error ratio over `window` (a Prometheus duration or Sloth's `{{.window}}`)."""
    by = _by(group_by)
    if o.sli.kind == "composite":
        total = sum(c.weight for c in o.components)
        parts = " + ".join(f"{c.weight:g} * ({error_ratio(by_name[c.slo], by_name, window, group_by)})"
                           for c in o.components)
        return f"({parts}) / {total:g}"
    sel = f'{{slo="{o.name}"}}'
    return (f"sum{by} (rate(telegen_slo_bad_events_total{sel}[{window}]))\n/\n"
            f"sum{by} (rate(telegen_slo_events_total{sel}[{window}]))")


def _alert_name(*parts: str) -> str:
    """('TelegenSLOBudget', 'freeze-all') -> 'TelegenSLOBudgetFreezeAll'."""
    words = [w for p in parts for w in re.split(r"[^A-Za-z0-9]+", p) if w]
    return "".join(w[:1].upper() + w[1:] for w in words)


def prometheus_rules(cfg: SloConfig, group_by: Sequence[str] = ("instance",)) -> dict:
    alerts = burn_alerts(cfg.burn_alerts)
    windows = sorted({a.long_s for a in alerts} | {a.short_s for a in alerts})
    by_name = {o.name: o for o in cfg.objectives}
    groups = []
    for o in cfg.objectives:
        labels = _labels(o)
        sel = _selector(labels)
        period = duration_text(seconds(o.window, "window"))
        budget = 1 - o.objective
        records = [{"record": f"slo:sli_error:ratio_rate{duration_text(w)}",
                    "expr": error_ratio(o, by_name, duration_text(w), group_by),
                    "labels": dict(labels, sloth_window=duration_text(w))}
                   for w in sorted(set(windows) | {seconds(o.window, "window")})]
        on = "on(sloth_id, sloth_slo, sloth_service) group_left"
        meta = [
            {"record": "slo:objective:ratio", "expr": f"vector({o.objective!r})", "labels": labels},
            {"record": "slo:error_budget:ratio", "expr": f"vector(1 - {o.objective!r})", "labels": labels},
            {"record": "slo:time_period:days", "expr": f"vector({seconds(o.window, 'window') / 86400:g})",
             "labels": labels},
            {"record": "slo:current_burn_rate:ratio", "labels": labels,
             "expr": f"slo:sli_error:ratio_rate{duration_text(windows[0])}{sel}\n/ {on}\nslo:error_budget:ratio{sel}"},
            {"record": "slo:period_burn_rate:ratio", "labels": labels,
             "expr": f"slo:sli_error:ratio_rate{period}{sel}\n/ {on}\nslo:error_budget:ratio{sel}"},
            {"record": "slo:period_error_budget_remaining:ratio", "labels": labels,
             "expr": f"1 - slo:period_burn_rate:ratio{sel}"},
            {"record": "sloth_slo_info", "expr": "vector(1)",
             "labels": dict(labels, sloth_mode="cli-gen-prom", sloth_spec="prometheus/v1", sloth_version="telegen-sonic",
                            sloth_objective=f"{o.objective * 100:g}", telegen_window=period,
                            telegen_budgeting=o.budgeting)},
        ]
        rules = []
        by_alert: Dict[str, list] = OrderedDict()
        for a in alerts:
            by_alert.setdefault(a.name, []).append(a)
        for name, pairs in by_alert.items():
            terms = [f"(max(slo:sli_error:ratio_rate{duration_text(a.long_s)}{sel} > ({a.factor:g} * {budget!r})) "
                     f"without (sloth_window)\nand\nmax(slo:sli_error:ratio_rate{duration_text(a.short_s)}{sel} > "
                     f"({a.factor:g} * {budget!r})) without (sloth_window))" for a in pairs]
            rules.append({"alert": _alert_name("TelegenSLO", name, "BurnRate"), "expr": "\nor\n".join(terms),
                          "labels": dict(labels, severity=name, sloth_severity=name, slo=o.name),
                          "annotations": {"summary": f"SLO {o.name} ({o.service}) is burning its error budget too fast",
                                          "title": f"(%s) {o.name} burn rate" % name}})
        for p in cfg.policies:
            rules.append({"alert": _alert_name("TelegenSLOBudget", p.name),
                          "expr": f"slo:period_error_budget_remaining:ratio{sel} <= {p.below!r}",
                          "labels": dict(labels, policy=p.name, slo=o.name),
                          "annotations": {"summary": f"SLO {o.name}: {p.below:.0%} or less of its error budget left "
                                                     f"({p.name})"}})
        if o.sli.kind != "composite":
            rules.append({"alert": "TelegenSLOMetricAbsent", "expr": f'absent(telegen_slo_events_total{{slo="{o.name}"}})',
                          "for": ABSENT_FOR, "labels": dict(labels, severity="ticket", slo=o.name),
                          "annotations": {"summary": f"No events of SLO {o.name}: the agent is not scraped, or does "
                                                     f"not define it"}})
        groups += [{"name": f"sloth-slo-sli-recordings-{labels['sloth_id']}", "rules": records},
                   {"name": f"sloth-slo-meta-recordings-{labels['sloth_id']}", "rules": meta},
                   {"name": f"sloth-slo-alerts-{labels['sloth_id']}", "rules": rules}]
    return {"groups": groups}


def sloth_spec(cfg: SloConfig, group_by: Sequence[str] = ()) -> List[dict]:
    """One Sloth `prometheus/v1` spec per service. Sloth's periods are 30d (or 28d) unless it is
    given its own windows: an SLO with another window says so in its description."""
    by_name = {o.name: o for o in cfg.objectives}
    services: Dict[str, List[dict]] = OrderedDict()
    for o in cfg.objectives:
        period = duration_text(seconds(o.window, "window"))
        slo = {"name": o.name, "objective": round(o.objective * 100, 6),
               "description": (o.description or f"{o.sli.kind} SLI measured by telegen-sonic") + f" (window {period})",
               "labels": {"telegen_budgeting": o.budgeting}}
        if o.sli.kind == "composite":
            slo["sli"] = {"raw": {"error_ratio_query": error_ratio(o, by_name, "{{.window}}", group_by)}}
        else:
            sel = f'{{slo="{o.name}"}}'
            by = _by(group_by)
            slo["sli"] = {"events": {"error_query": f"sum{by}(rate(telegen_slo_bad_events_total{sel}[{{{{.window}}}}]))",
                                     "total_query": f"sum{by}(rate(telegen_slo_events_total{sel}[{{{{.window}}}}]))"}}
        slo["alerting"] = {"name": _alert_name("TelegenSLO", o.name), "labels": {"slo": o.name},
                           "annotations": {"summary": f"SLO {o.name} is burning its error budget too fast"},
                           "page_alert": {"labels": {"severity": "page"}},
                           "ticket_alert": {"labels": {"severity": "ticket"}}}
        services.setdefault(o.service, []).append(slo)
    return [{"version": "prometheus/v1", "service": service, "labels": {"owner": "telegen-sonic"}, "slos": slos}
            for service, slos in services.items()]


def dump(document) -> str:
    class Literal(yaml.SafeDumper):
        pass

    def text(dumper, value):  # multi-line PromQL as YAML block scalars
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)
    Literal.add_representer(str, text)
    Literal.add_representer(OrderedDict, lambda d, v: d.represent_dict(v.items()))
    if isinstance(document, list):
        return yaml.dump_all(document, Dumper=Literal, sort_keys=False, default_flow_style=False)
    return yaml.dump(document, Dumper=Literal, sort_keys=False, default_flow_style=False)
