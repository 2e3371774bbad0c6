"""Platform families from STATE_DB (pmon/xcvrd): transceivers, PSUs, fans, sensors, chassis."""
from __future__ import annotations

from typing import List

from .model import GAUGE, INFO, STATE, Key, Metric, Table
from .switch import port_key
from .tables import field_metric, flag, number, only_text, part, scaled, table_entity

STATE_DB = "STATE_DB"
COMPONENT = "/components/component[name={%s}]"


def _table(family: str, name: str, **kw) -> Table:
    return Table(family, STATE_DB, name, **kw)


XCVR_INFO = table_entity("transceiver_info", _table("transceivers", "TRANSCEIVER_INFO"), (port_key(part(0)),),
                         "a port's transceiver (xcvrd)")
XCVR_DOM = table_entity("transceiver_dom", _table("transceivers", "TRANSCEIVER_DOM_SENSOR"), (port_key(part(0)),),
                        "a transceiver's DOM sensors")
XCVR_LANE = table_entity("transceiver_lane", _table("transceivers", "TRANSCEIVER_DOM_SENSOR"),
                         (port_key(part(0)), Key("lane", part(1), prom="lane", otel="sonic.transceiver.lane")),
                         "a transceiver lane (any number of lanes)")
XCVR_THRESHOLD = table_entity("transceiver_threshold", _table("transceivers", "TRANSCEIVER_DOM_THRESHOLD"),
                              (port_key(part(0)), Key("threshold", part(1), prom="threshold",
                                                      otel="sonic.transceiver.threshold")),
                              "a transceiver DOM alarm or warning threshold")
XCVR_STATUS = table_entity("transceiver_status", _table("transceiver_status", "TRANSCEIVER_STATUS"),
                           (port_key(part(0)), Key("field", part(1), prom="field", otel="sonic.transceiver.field")),
                           "a transceiver status field")
XCVR_FLAG = table_entity("transceiver_flag", _table("transceiver_status", "TRANSCEIVER_STATUS_FLAG"),
                         (port_key(part(0)), Key("flag", part(1), prom="flag", otel="sonic.transceiver.flag")),
                         "a transceiver status flag")
XCVR_DOM_FLAG = table_entity("transceiver_dom_flag", _table("transceiver_status", "TRANSCEIVER_DOM_FLAG"),
                             (port_key(part(0)), Key("flag", part(1), prom="flag", otel="sonic.transceiver.flag")),
                             "a transceiver DOM alarm or warning flag")
PSU = table_entity("psu", _table("platform", "PSU_INFO"), (Key("psu", part(0), prom="psu", otel="hw.id"),),
                   "a power supply", otel_attrs=(("hw.type", "power_supply"),))
FAN = table_entity("fan", _table("platform", "FAN_INFO"), (Key("fan", part(0), prom="fan", otel="hw.id"),),
                   "a fan", otel_attrs=(("hw.type", "fan"),))
TEMPERATURE = table_entity("temperature", _table("platform", "TEMPERATURE_INFO"),
                           (Key("sensor", part(0), prom="sensor", otel="hw.id"),), "a temperature sensor",
                           otel_attrs=(("hw.type", "temperature"),))
VOLTAGE = table_entity("voltage", _table("platform", "VOLTAGE_INFO"),
                       (Key("sensor", part(0), prom="sensor", otel="hw.id"),), "a voltage sensor",
                       otel_attrs=(("hw.type", "voltage"),))
CURRENT = table_entity("current", _table("platform", "CURRENT_INFO"),
                       (Key("sensor", part(0), prom="sensor", otel="hw.id"),), "a current sensor")
CHASSIS = table_entity("chassis", _table("platform", "CHASSIS_INFO"),
                       (Key("chassis", part(0), prom="chassis", otel="hw.id"),), "the chassis")
SYSTEM_READY = table_entity("system_ready", _table("platform", "SYSTEM_READY|SYSTEM_STATE", key=lambda rest: (),
                                                   whole=True), (), "SONiC's system-ready state")


def _transceivers() -> List[Metric]:
    info = "A port's transceiver (STATE_DB TRANSCEIVER_INFO)."
    comp = COMPONENT % "port"
    out = [field_metric(f"transceiver.{field}", XCVR_INFO, INFO, "", info, field, prom="sonic_transceiver_info",
                        info_label=label, gnmi=gnmi)
           for field, label, gnmi in (
               ("type", "type", comp + "/transceiver/state/form-factor"),
               ("manufacturer", "vendor", comp + "/state/mfg-name"),
               ("model", "part_number", comp + "/state/part-no"),
               ("serial", "serial", comp + "/state/serial-no"),
               ("vendor_rev", "revision", comp + "/state/hardware-version"))]
    out += [
        field_metric("transceiver.temperature", XCVR_DOM, GAUGE, "Cel", "Transceiver temperature (DOM).",
                     "temperature", prom="sonic_transceiver_temperature_celsius", otel="hw.temperature",
                     otel_attrs=(("hw.type", "temperature"),), gnmi=comp + "/state/temperature/instant"),
        field_metric("transceiver.voltage", XCVR_DOM, GAUGE, "V", "Transceiver supply voltage (DOM).", "voltage",
                     prom="sonic_transceiver_voltage_volts", otel="hw.voltage", otel_attrs=(("hw.type", "voltage"),),
                     gnmi=comp + "/transceiver/state/supply-voltage/instant")]
    channel = comp + "/transceiver/physical-channels/channel[index={lane}]/state/"
    out += [field_metric(f"transceiver.lane.{name}", XCVR_LANE, GAUGE, unit, help, field, parse=parse, prom=prom,
                         otel=f"sonic.transceiver.{name.replace('_', '.')}", gnmi=channel + leaf)
            for name, field, unit, parse, prom, leaf, help in (
        ("rx_power", "rx{lane}power", "dBm", number, "sonic_transceiver_rx_power_dbm", "input-power/instant",
         "Received optical power per lane (DOM)."),
        ("tx_power", "tx{lane}power", "dBm", number, "sonic_transceiver_tx_power_dbm", "output-power/instant",
         "Transmitted optical power per lane (DOM)."),
        ("tx_bias", "tx{lane}bias", "A", lambda t, f: None if number(t) is None else number(t) / 1000,
         "sonic_transceiver_tx_bias_amperes", "laser-bias-current/instant", "Laser bias current per lane (DOM; "
         "SONiC writes mA)."))]
    own = "/telegen/transceivers/transceiver[port={port}]"
    out += [
        field_metric("transceiver.threshold", XCVR_THRESHOLD, STATE, "1", "A DOM alarm/warning threshold "
                     "(TRANSCEIVER_DOM_THRESHOLD; temp in Cel, vcc in V, power in dBm, bias in mA).", "{threshold}",
                     prom="sonic_transceiver_dom_threshold", otel="sonic.transceiver.threshold",
                     gnmi=own + "/thresholds/threshold[name={threshold}]/state/value"),
        field_metric("transceiver.status_value", XCVR_STATUS, STATE, "1", "A numeric or true/false status field "
                     "(TRANSCEIVER_STATUS).", "{field}", parse=lambda t, f: number(t) if number(t) is not None
                     else flag(t), prom="sonic_transceiver_status_value",
                     gnmi=own + "/status/field[name={field}]/state/value"),
        field_metric("transceiver.status_text", XCVR_STATUS, INFO, "", "A status field that is a state name "
                     "(TRANSCEIVER_STATUS: DataPathActivated, ...).", "{field}", parse=only_text,
                     prom="sonic_transceiver_status_info", info_label="state",
                     gnmi=own + "/status/field[name={field}]/state/text"),
        field_metric("transceiver.flag", XCVR_FLAG, STATE, "1", "1 if a transceiver status flag is set "
                     "(TRANSCEIVER_STATUS_FLAG).", "{flag}", parse=flag, prom="sonic_transceiver_status_flag",
                     otel="sonic.transceiver.status.flag", gnmi=own + "/status-flags/flag[name={flag}]/state/set"),
        field_metric("transceiver.dom_flag", XCVR_DOM_FLAG, STATE, "1", "1 if a DOM alarm or warning flag is set "
                     "(TRANSCEIVER_DOM_FLAG).", "{flag}", parse=flag, prom="sonic_transceiver_dom_flag",
                     otel="sonic.transceiver.dom.flag", gnmi=own + "/dom-flags/flag[name={flag}]/state/set"),
    ]
    return out


def _power_and_cooling() -> List[Metric]:
    psu = COMPONENT % "psu"
    fan = COMPONENT % "fan"
    tpsu = "/telegen/platform/psus/psu[name={psu}]/state/"
    tfan = "/telegen/platform/fans/fan[name={fan}]/state/"
    out = [field_metric(f"psu.{field}", PSU, INFO, "", "A power supply (STATE_DB PSU_INFO).", field,
                        prom="sonic_psu_info", info_label=field, gnmi=psu + f"/state/{leaf}")
           for field, leaf in (("model", "part-no"), ("serial", "serial-no"), ("revision", "hardware-version"))]
    out += [
        field_metric("psu.present", PSU, STATE, "1", "1 if the PSU is present.", "presence", parse=flag,
                     prom="sonic_psu_present", gnmi=tpsu + "present"),
        field_metric("psu.ok", PSU, STATE, "1", "1 if the PSU status is good (PSU_INFO status).", "status", parse=flag,
                     prom="sonic_psu_status_ok", otel="hw.status", otel_attrs=(("hw.state", "ok"),),
                     gnmi=tpsu + "status-ok"),
        field_metric("psu.voltage", PSU, GAUGE, "V", "PSU output voltage.", "voltage", prom="sonic_psu_voltage_volts",
                     otel="hw.voltage", gnmi=psu + "/power-supply/state/output-voltage"),
        field_metric("psu.current", PSU, GAUGE, "A", "PSU output current.", "current",
                     prom="sonic_psu_current_amperes", gnmi=psu + "/power-supply/state/output-current"),
        field_metric("psu.input_voltage", PSU, GAUGE, "V", "PSU input voltage (where the platform reports it).",
                     "input_voltage", prom="sonic_psu_input_voltage_volts", gnmi=psu + "/power-supply/state/input-voltage"),
        field_metric("psu.input_current", PSU, GAUGE, "A", "PSU input current (where the platform reports it).",
                     "input_current", prom="sonic_psu_input_current_amperes", gnmi=psu + "/power-supply/state/input-current"),
        field_metric("psu.power", PSU, GAUGE, "W", "PSU output power.", "power", prom="sonic_psu_power_watts",
                     otel="hw.power", gnmi=psu + "/power-supply/state/output-power"),
        field_metric("psu.temperature", PSU, GAUGE, "Cel", "PSU temperature.", "temp",
                     prom="sonic_psu_temperature_celsius", gnmi=psu + "/state/temperature/instant"),
        field_metric("fan.present", FAN, STATE, "1", "1 if the fan is present (STATE_DB FAN_INFO).", "presence",
                     parse=flag, prom="sonic_fan_present", gnmi=tfan + "present"),
        field_metric("fan.ok", FAN, STATE, "1", "1 if the fan status is good (FAN_INFO status).", "status", parse=flag,
                     prom="sonic_fan_status_ok", otel="hw.status", otel_attrs=(("hw.state", "ok"),),
                     gnmi=tfan + "status-ok"),
        field_metric("fan.speed", FAN, GAUGE, "1", "Fan speed, a fraction of its maximum (FAN_INFO speed %).", "speed",
                     parse=lambda t, f: None if number(t) is None else number(t) / 100, prom="sonic_fan_speed_ratio",
                     otel="hw.fan.speed_ratio", gnmi=tfan + "speed-ratio"),
        field_metric("fan.target", FAN, GAUGE, "1", "The speed the fan is driven to, a fraction of its maximum.",
                     "speed_target", parse=lambda t, f: None if number(t) is None else number(t) / 100,
                     prom="sonic_fan_target_speed_ratio", gnmi=tfan + "target-ratio"),
        field_metric("fan.direction", FAN, INFO, "", "A fan (FAN_INFO).", "direction", prom="sonic_fan_info",
                     info_label="direction", gnmi=tfan + "direction"),
        field_metric("fan.drawer", FAN, INFO, "", "A fan (FAN_INFO).", "drawer_name", prom="sonic_fan_info",
                     info_label="drawer", gnmi=fan + "/state/parent"),
    ]
    return out


def _sensors() -> List[Metric]:
    out = []
    for entity, kind, field, unit, prom, otel, oc in (
            (TEMPERATURE, "temperature", "temperature", "Cel", "sonic_temperature_celsius", "hw.temperature",
             COMPONENT % "sensor" + "/state/temperature/instant"),
            (VOLTAGE, "voltage", "voltage", "V", "sonic_voltage_volts", "hw.voltage",
             "/telegen/platform/voltage-sensors/sensor[name={sensor}]/state/voltage"),
            (CURRENT, "current", "current", "A", "sonic_current_amperes", "sonic.sensor.current",
             "/telegen/platform/current-sensors/sensor[name={sensor}]/state/current")):
        parse = number if kind == "temperature" else scaled
        base = prom[:-len(prom.split("_")[-1]) - 1]
        suffix = prom.split("_")[-1]
        out.append(field_metric(f"{kind}.value", entity, GAUGE, unit, f"A {kind} sensor's reading (STATE_DB "
                                f"{entity.table.name}; scaled from its `unit`).", field, parse=parse, prom=prom,
                                otel=otel, gnmi=oc))
        for limit in ("high", "low", "critical_high", "critical_low"):
            out.append(field_metric(f"{kind}.{limit}", entity, STATE, unit, f"A {kind} sensor's {limit.replace('_', ' ')} "
                                    "threshold.", f"{limit}_threshold", parse=parse,
                                    prom=f"{base}_{limit}_threshold_{suffix}"))
        out.append(field_metric(f"{kind}.warning", entity, STATE, "1", f"1 if the {kind} sensor is in warning.",
                                "warning_status", parse=flag, prom=f"{base}_warning"))
    out += [
        field_metric("chassis.model", CHASSIS, INFO, "", "The chassis (STATE_DB CHASSIS_INFO).", "model",
                     prom="sonic_chassis_info", info_label="model", gnmi="/components/component[name={chassis}]/state/part-no"),
        field_metric("chassis.serial", CHASSIS, INFO, "", "The chassis.", "serial", prom="sonic_chassis_info",
                     info_label="serial", gnmi="/components/component[name={chassis}]/state/serial-no"),
        field_metric("chassis.psus", CHASSIS, STATE, "1", "Power supply slots of the chassis.", "psu_num",
                     prom="sonic_chassis_psus"),
        field_metric("system.ready", SYSTEM_READY, STATE, "1", "1 if SONiC says the system is ready (STATE_DB "
                     "SYSTEM_READY|SYSTEM_STATE Status).", "Status", parse=flag, prom="sonic_system_ready",
                     gnmi="/telegen/system/state/ready"),
    ]
    return out


def metrics() -> List[Metric]:
    return _transceivers() + _power_and_cooling() + _sensors()
