"""The switch overview dashboard, built as code with grafana-foundation-sdk (Grafana's own
builders): ports, rates, errors, the control plane by class, kernel drops, mirror flows and
sessions, SLOs and their burn rates. Every query reads the agent's series (README: Export).

`python dashboards/switch_overview.py` writes dashboards/switch-overview.json, which is what
Grafana imports; tests/test_dashboards.py checks the file is this script's output and runs every
panel's query, with its variables filled in, against a real Prometheus scraping the lab.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import GraphTresholdsStyleMode  # sic: the SDK spells it so
from grafana_foundation_sdk.models.dashboard import DataSourceRef, Threshold, ThresholdsMode, VariableRefresh

OUT = Path(__file__).with_name("switch-overview.json")
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SW = 'instance=~"$instance"'
PORTS = f'{SW}, port=~"$port"'
RATE = "$__rate_interval"


def query(expr: str, legend: str = "") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend or "__auto").datasource(DS)


def series(title: str, unit: str, *queries, width: int = 12, thresholds=None) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).span(width).height(8).datasource(DS)
    for i, q in enumerate(queries):
        panel = panel.with_target(q.ref_id(chr(ord("A") + i)))
    if thresholds:
        steps = [Threshold(value=None, color="green")] + [Threshold(value=v, color=c) for v, c in thresholds]
        panel = panel.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
        panel = panel.thresholds_style(common.GraphThresholdsStyleConfig().mode(GraphTresholdsStyleMode.LINE))
    return panel


def single(title: str, unit: str, expr: str, legend: str = "", thresholds=None) -> stat.Panel:
    panel = stat.Panel().title(title).unit(unit).span(6).height(4).datasource(DS).with_target(query(expr, legend).ref_id("A"))
    if thresholds:
        steps = [Threshold(value=None, color="red")] + [Threshold(value=v, color=c) for v, c in thresholds]
        panel = panel.thresholds(dashboard.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps))
    return panel


def variable(name: str, label: str, values: str, multi: bool = True) -> dashboard.QueryVariable:
    """A `label_values(...)` variable; `multi`: several values or All (`.*`)."""
    return (dashboard.QueryVariable(name).label(label).datasource(DS).query(values)
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).multi(multi).include_all(multi)
            .all_value(".*" if multi else ""))


def build() -> dashboard.Dashboard:
    board = (dashboard.Dashboard("SONiC switch (telegen-sonic)").uid("telegen-sonic-switch")
             .tags(["sonic", "telegen-sonic", "slo"]).refresh("30s").time("now-6h", "now")
             .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
             .with_variable(variable("instance", "Switch", "label_values(sonic_device_info, instance)", multi=False))
             .with_variable(variable("port", "Port", f"label_values(sonic_port_oper_up{{{SW}}}, port)"))
             .with_variable(variable("slo", "SLO", f"label_values(telegen_slo_objective_ratio{{{SW}}}, slo)")))
    board = (board.with_row(dashboard.Row("Ports"))
             .with_panel(single("Ports up", "short", f'sum(sonic_port_oper_up{{{PORTS}}})'))
             .with_panel(single("Ports admin up, link down", "short",
                                f'count(sonic_port_admin_up{{{PORTS}}} == 1) - sum(sonic_port_oper_up{{{PORTS}}})'))
             .with_panel(single("Link flaps", "short", f'sum(changes(sonic_port_oper_up{{{PORTS}}}[1h]))'))
             .with_panel(single("Agent connected to redis", "short", f'sum(telegen_agent_redis_connected{{{SW}}})'))
             .with_panel(table.Panel().title("Port state").span(24).height(8).datasource(DS)
                         .with_target(query(f'sonic_port_oper_up{{{PORTS}}} * on(instance, port, namespace) '
                                            f'group_left(description, lag, kind) sonic_port_info{{{PORTS}}}').instant().ref_id("A"))))
    board = (board.with_row(dashboard.Row("Rates and errors"))
             .with_panel(series("Traffic (COUNTERS_DB RATES)", "Bps",
                                query(f'sonic_port_rate_bytes_per_second{{{PORTS}}}', "{{port}} {{direction}}")))
             .with_panel(series("Packets", "pps", query(f'sum by (port, direction) (rate(sonic_port_packets_total'
                                                       f'{{{PORTS}}}[{RATE}]))', "{{port}} {{direction}}")))
             .with_panel(series("Errors", "pps", query(f'rate(sonic_port_errors_total{{{PORTS}}}[{RATE}])',
                                                      "{{port}} {{direction}}")))
             .with_panel(series("Discards", "pps", query(f'rate(sonic_port_discards_total{{{PORTS}}}[{RATE}])',
                                                        "{{port}} {{direction}}"))))
    board = (board.with_row(dashboard.Row("Control plane"))
             .with_panel(series("CPU-bound packets by class", "pps", query(
                 f'sum by (class) (rate(telegen_probe_packets_total{{{PORTS}, direction="rx"}}[{RATE}]))',
                 "{{class}}")))
             .with_panel(series("CPU path: trapped but not received", "short", query(
                 f'increase(telegen_cpu_path_trapped_packets_total{{{SW}}}[{RATE}]) - '
                 f'increase(telegen_cpu_path_received_packets_total{{{SW}}}[{RATE}])', "{{class}}")))
             .with_panel(series("Kernel drops by reason", "pps", query(
                 f'sum by (reason) (rate(telegen_kernel_drops_total{{{SW}}}[{RATE}]))', "{{reason}}")))
             .with_panel(series("Top talkers to the CPU", "pps", query(
                 f'topk(10, rate(telegen_probe_talker_packets_total{{{PORTS}}}[{RATE}]))',
                 "{{port}} {{source}} {{class}}"))))
    board = (board.with_row(dashboard.Row("Mirror"))
             .with_panel(series("Top mirrored flows", "pps", query(
                 f'topk(10, rate(telegen_flow_packets_total{{{SW}}}[{RATE}]))',
                 "{{session}} {{src_address}} > {{dst_address}} {{protocol}}")))
             .with_panel(series("Mirror sessions", "pps",
                                query(f'sum by (session) (rate(telegen_mirror_packets_total{{{SW}}}[{RATE}]))',
                                      "{{session}} packets"),
                                query(f'sum by (session) (rate(telegen_mirror_lost_packets_total{{{SW}}}[{RATE}]))',
                                      "{{session}} lost"))))
    slo = f'{SW}, slo=~"$slo"'
    board = (board.with_row(dashboard.Row("SLOs"))
             .with_panel(single("Budget remaining", "percentunit",
                                f'min(telegen_slo_error_budget_remaining_ratio{{{slo}}})', "{{slo}}",
                                thresholds=[(0.0, "orange"), (0.25, "yellow"), (0.5, "green")]))
             .with_panel(single("SLI", "percentunit", f'telegen_slo_sli_ratio{{{slo}}}', "{{slo}}"))
             .with_panel(single("Level (policies fired)", "short", f'max(telegen_slo_level{{{slo}}})'))
             .with_panel(single("Burn alerts firing", "short", f'sum(telegen_slo_burn_alert_firing{{{slo}}})'))
             .with_panel(series("Burn rate, 1 h", "short", query(f'telegen_slo_burn_rate{{{slo}, window="1h"}}',
                                                                "{{slo}}"), thresholds=[(1, "yellow"), (10, "red")]))
             .with_panel(series("Burn rate, 6 h", "short", query(f'telegen_slo_burn_rate{{{slo}, window="6h"}}',
                                                                "{{slo}}"), thresholds=[(1, "yellow"), (10, "red")]))
             .with_panel(series("Budget remaining over time", "percentunit", query(
                 f'telegen_slo_error_budget_remaining_ratio{{{slo}}}', "{{slo}}")))
             .with_panel(series("Who used the budget", "percentunit", query(
                 f'telegen_slo_consumer_budget_ratio{{{slo}}}', "{{slo}} {{consumer}}"))))
    return board


def render() -> str:
    return json.dumps(build().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if OUT.read_text() == render() else 1)
    OUT.write_text(render())
