"""SONiC's own software: containers (DOCKER_STATS), processes (PROCESS_STATS), features, reboot cause."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import List

from ..records import Row
from .model import GAUGE, INFO, STATE, Key, Metric, Source, Table
from .tables import field_metric, number, part, table_entity

CONTAINER = table_entity("container", Table("containers", "STATE_DB", "DOCKER_STATS", key_field="NAME",
                                           ignore=("LastUpdateTime",)),
                         (Key("container", part(0), prom="container", otel="container.name"),),
                         "a SONiC container (procdockerstatsd's DOCKER_STATS)")
DOCKER_SOURCE = table_entity("docker_source", Table("containers", "STATE_DB", "DOCKER_STATS|LastUpdateTime",
                                                   key=lambda rest: (), whole=True), (),
                             "when procdockerstatsd last wrote DOCKER_STATS")
PROCESS = table_entity("process", Table("processes", "STATE_DB", "PROCESS_STATS", ignore=("LastUpdateTime",)),
                       (Key("pid", part(0), prom="pid", otel="process.pid"),),
                       "a process (procdockerstatsd's PROCESS_STATS: the top ones by CPU)")
FEATURE = table_entity("feature", Table("containers", "CONFIG_DB", "FEATURE"),
                       (Key("feature", part(0), prom="feature", otel="sonic.feature"),), "a SONiC feature (CONFIG_DB FEATURE)")


def _latest_reboot(entries, namespace: str) -> List[Row]:
    """REBOOT_CAUSE|<YYYY_MM_DD_HH_MM_SS> keeps a history: the newest entry."""
    if not entries:
        return []
    _, fields = max(entries, key=lambda e: e[0])
    return [Row((), {f"reboot.{name}": str(fields.get(name, "")) for name in ("cause", "time", "user")}, namespace)]


REBOOT = table_entity("reboot_cause", Table("platform", "STATE_DB", "REBOOT_CAUSE", rows=_latest_reboot), (),
                      "the last reboot's cause (STATE_DB REBOOT_CAUSE, newest entry)")


def timestamp(text, fields=None):
    """procdockerstatsd's '2024-06-11 16:29:29.741716' (local time of the switch, UTC there) -> Unix seconds."""
    try:
        return datetime.strptime(str(text).strip(), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _enabled(text, fields=None):
    value = str(text).lower()
    return 1 if value in ("enabled", "always_enabled") else 0 if value in ("disabled", "always_disabled") else None


def metrics() -> List[Metric]:
    container = "/telegen/containers/container[name={container}]/state/"
    out = [field_metric(f"container.{name}", CONTAINER, kind, unit, help, field, parse=parse,
                        prom=f"sonic_container_{prom}", otel=f"container.{otel}" if otel else None,
                        gnmi=container + name.replace("_", "-"))
           for name, field, kind, unit, parse, prom, otel, help in (
        ("cpu", "CPU%", GAUGE, "1", lambda t, f: None if number(t) is None else number(t) / 100, "cpu_ratio",
         "cpu.utilization", "A container's CPU use, a fraction of one CPU (DOCKER_STATS CPU%)."),
        ("memory", "MEM_BYTES", GAUGE, "By", number, "memory_bytes", "memory.usage", "A container's memory use."),
        ("memory_limit", "MEM_LIMIT_BYTES", GAUGE, "By", number, "memory_limit_bytes", None,
         "A container's memory limit."),
        ("network_rx", "NET_IN_BYTES", GAUGE, "By", number, "network_receive_bytes", None,
         "Bytes a container received (as docker stats reports them)."),
        ("network_tx", "NET_OUT_BYTES", GAUGE, "By", number, "network_transmit_bytes", None,
         "Bytes a container sent."),
        ("block_read", "BLOCK_IN_BYTES", GAUGE, "By", number, "block_read_bytes", None, "Bytes a container read."),
        ("block_write", "BLOCK_OUT_BYTES", GAUGE, "By", number, "block_write_bytes", None, "Bytes a container wrote."),
        ("pids", "PIDS", GAUGE, "{process}", number, "pids", None, "Processes in a container."))]
    out.append(field_metric("container.source_updated", DOCKER_SOURCE, GAUGE, "s", "When procdockerstatsd last "
                            "updated DOCKER_STATS (Unix seconds; compare with node_time_seconds for its age).",
                            "lastupdate", parse=timestamp, prom="sonic_container_stats_updated_timestamp_seconds",
                            gnmi="/telegen/containers/state/updated"))
    process = "/telegen/processes/process[pid={pid}]/state/"
    out += [
        field_metric("process.cpu", PROCESS, GAUGE, "1", "A process's CPU use, a fraction of one CPU "
                     "(PROCESS_STATS %CPU).", "%CPU", parse=lambda t, f: None if number(t) is None else number(t) / 100,
                     prom="sonic_process_cpu_ratio", gnmi=process + "cpu"),
        field_metric("process.memory", PROCESS, GAUGE, "1", "A process's share of memory (PROCESS_STATS %MEM).",
                     "%MEM", parse=lambda t, f: None if number(t) is None else number(t) / 100,
                     prom="sonic_process_memory_ratio", gnmi=process + "memory"),
        field_metric("process.command", PROCESS, INFO, "", "A process with its command line.", "CMD",
                     prom="sonic_process_info", info_label="command", gnmi=process + "command"),
        field_metric("feature.enabled", FEATURE, STATE, "1", "1 if a SONiC feature is enabled (CONFIG_DB FEATURE "
                     "state).", "state", parse=_enabled, prom="sonic_feature_enabled", otel="sonic.feature.enabled",
                     gnmi="/telegen/features/feature[name={feature}]/state/enabled"),
        field_metric("feature.state", FEATURE, INFO, "", "A SONiC feature with its state and auto-restart setting.",
                     "state", prom="sonic_feature_info", info_label="state",
                     gnmi="/telegen/features/feature[name={feature}]/state/state"),
        field_metric("feature.auto_restart", FEATURE, INFO, "", "", "auto_restart", prom="sonic_feature_info",
                     info_label="auto_restart", gnmi="/telegen/features/feature[name={feature}]/state/auto-restart"),
    ]
    out += [Metric(f"reboot.{name}", REBOOT, INFO, "", "The last reboot (STATE_DB REBOOT_CAUSE).",
                   Source("STATE_DB", "REBOOT_CAUSE", name), lambda r, name=name: r.values.get(f"reboot.{name}"),
                   prom="sonic_reboot_cause_info", info_label=name, gnmi=f"/telegen/system/reboot-cause/state/{name}")
            for name in ("cause", "time", "user")]
    return out


__all__ = ["metrics", "CONTAINER", "PROCESS", "FEATURE", "REBOOT"]
