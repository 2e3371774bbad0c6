"""The SLO engine's series (sonic_agent.slo): per SLO, per burn window, per burn alert, per
consumer of the budget, and the maintenance windows CONFIG_DB holds (TELEGEN_SLO_MAINTENANCE,
read as a family: the engine takes them from the Snapshot like everything else)."""
from __future__ import annotations

from typing import List, Optional

from ..slo.spec import epoch
from ..errors import UserError
from .model import COUNTER, GAUGE, INFO, STATE, Entity, Key, Metric, Source, Table
from .tables import field_metric, part, table_entity


def _rows(name: str):
    return lambda s: s.families.get(name, ())


SLO_KEY = Key("slo", part(0), prom="slo", otel="telegen.slo.name")
SLO = Entity("slo", _rows("slo"), (SLO_KEY,), help="an SLO the agent evaluates (config slo.objectives)")
WINDOW = Entity("slo_window", _rows("slo_window"), (SLO_KEY, Key("window", part(1), prom="window",
                                                                  otel="telegen.slo.window")),
                help="an SLO over one burn-rate window")
ALERT = Entity("slo_alert", _rows("slo_alert"), (SLO_KEY, Key("alert", part(1), prom="alert", otel="telegen.slo.alert")),
               help="a multi-window burn-rate alert of an SLO (name:long/short)")
CONSUMER = Entity("slo_consumer", _rows("slo_consumer"), (SLO_KEY, Key("consumer", part(1), prom="consumer",
                                                                        otel="telegen.slo.consumer")),
                  help="a top consumer of an SLO's error budget over its window (a port, neighbor, class, ...)")
MAINTENANCE = table_entity("slo_maintenance", Table("slo", "CONFIG_DB", "TELEGEN_SLO_MAINTENANCE"),
                           (Key("id", part(0), prom="id", otel="telegen.slo.maintenance.id"),),
                           "a planned maintenance window (telegen-sonic slo maintenance start)")

STATE_PATH = "/telegen/slos/slo[name={slo}]/state/"


def _time(value, fields=None) -> Optional[float]:
    try:
        return epoch(str(value), "time")
    except UserError:
        return None


def _value(name: str):
    return lambda row: row.values.get(name)


def metrics() -> List[Metric]:
    engine = Source("agent", "slo engine")
    out = [Metric(f"slo.{name}", SLO, kind, unit, help, engine, _value(f"slo.{name}"), prom=prom,
                  otel=otel, gnmi=STATE_PATH + leaf)
           for name, kind, unit, prom, otel, leaf, help in (
        ("objective", GAUGE, "1", "telegen_slo_objective_ratio", "telegen.slo.objective", "objective",
         "The SLO's objective (good events over all of them)."),
        ("sli", GAUGE, "1", "telegen_slo_sli_ratio", "telegen.slo.sli", "sli",
         "The SLI over the SLO's window: 1 - bad events / events."),
        ("remaining", GAUGE, "1", "telegen_slo_error_budget_remaining_ratio", "telegen.slo.error_budget.remaining",
         "budget-remaining", "Error budget left over the SLO's window (1 - its burn rate; below 0 when overspent)."),
        ("level", STATE, "1", "telegen_slo_level", "telegen.slo.level", "level",
         "How many budget policies have fired and not recovered (0: ok)."),
        ("maintenance", STATE, "1", "telegen_slo_maintenance", "telegen.slo.maintenance", "maintenance",
         "1 while a maintenance window stops the SLO counting."),
        ("events", COUNTER, "1", "telegen_slo_events", "telegen.slo.events", "events",
         "Events counted (budget units: events, or seconds for timeslices and state SLIs), maintenance left out."),
        ("bad_events", COUNTER, "1", "telegen_slo_bad_events", "telegen.slo.bad_events", "bad-events",
         "Bad events counted (weighted inside event windows), maintenance left out."))]
    out += [
        Metric("slo.window", SLO, INFO, "", "An SLO with its window and its level's name.", engine,
               _value("slo.window"), prom="telegen_slo_info", info_label="window", gnmi=STATE_PATH + "window"),
        Metric("slo.level_name", SLO, INFO, "", "", engine, _value("slo.level_name"), prom="telegen_slo_info",
               info_label="level_name", gnmi=STATE_PATH + "level-name"),
        Metric("slo.burn_rate", WINDOW, GAUGE, "1", "How fast the SLO burns its budget over a window: error ratio / "
               "(1 - objective).", engine, _value("slo.burn_rate"), prom="telegen_slo_burn_rate",
               otel="telegen.slo.burn_rate", gnmi="/telegen/slos/slo[name={slo}]/windows/window[name={window}]/state/"
               "burn-rate"),
        Metric("slo.alert_firing", ALERT, STATE, "1", "1 while a multi-window burn-rate alert is fired (not re-armed).",
               engine, _value("slo.alert_firing"), prom="telegen_slo_burn_alert_firing", otel="telegen.slo.alert.firing",
               gnmi="/telegen/slos/slo[name={slo}]/alerts/alert[name={alert}]/state/firing"),
        Metric("slo.consumer_budget", CONSUMER, GAUGE, "1", "The share of the SLO's error budget a consumer used over "
               "the window (the top slo.top_consumers).", engine, _value("slo.consumer_budget"),
               prom="telegen_slo_consumer_budget_ratio", otel="telegen.slo.consumer.budget",
               gnmi="/telegen/slos/slo[name={slo}]/consumers/consumer[name={consumer}]/state/budget-used"),
    ]
    maintenance = "/telegen/slos/maintenance/window[id={id}]/state/"
    out += [field_metric(f"slo_maintenance.{name}", MAINTENANCE, GAUGE, "s", help, name, parse=_time,
                         prom=f"telegen_slo_maintenance_{name}_seconds", gnmi=maintenance + name)
            for name, help in (("start", "When a maintenance window starts (Unix seconds)."),
                               ("end", "When a maintenance window ends (Unix seconds)."))]
    out += [field_metric(f"slo_maintenance.{name}", MAINTENANCE, INFO, "", "A maintenance window: the SLOs it "
                         "covers (empty: all) and why.", field, prom="telegen_slo_maintenance_info", info_label=name, gnmi=maintenance + name)
            for name, field in (("slos", "slos@"), ("reason", "reason"))]
    return out
