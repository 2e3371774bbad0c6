"""Resource and buffer families: CRM, watermarks, buffer pools, trap counters, and the CPU path
(what the ASIC trapped to the CPU against what the probes saw arrive there)."""
from __future__ import annotations

from collections import Counter
from typing import Dict, List, Tuple

from .model import COUNTER, GAUGE, STATE, Entity, Key, Metric, Source, Table
from .switch import port_key
from .tables import field_metric, part, split_key, table_entity

CDB = "COUNTERS_DB"
CRM = table_entity("crm", Table("crm", CDB, "CRM:STATS", key=lambda rest: (), whole=True),
                   (Key("resource", part(0), prom="resource", otel="sonic.crm.resource"),),
                   "a CRM resource (COUNTERS_DB CRM:STATS)")
CRM_ACL = table_entity("crm_acl", Table("crm", CDB, "CRM:ACL_STATS", key=split_key(2, ":")),
                       (Key("stage", part(0), prom="stage", otel="sonic.crm.acl.stage"),
                        Key("bind_point", part(1), prom="bind_point", otel="sonic.crm.acl.bind_point"),
                        Key("resource", part(2), prom="resource", otel="sonic.crm.resource")),
                       "an ACL resource per stage and bind point (CRM:ACL_STATS:<stage>:<bind point>)")
CRM_ACL_TABLE = table_entity("crm_acl_table", Table("crm", CDB, "CRM:ACL_TABLE_STATS"),
                             (Key("table_id", part(0), prom="table_id", otel="sonic.crm.acl.table_id"),
                              Key("resource", part(1), prom="resource", otel="sonic.crm.resource")),
                             "an ACL table's entries and counters (CRM:ACL_TABLE_STATS:<oid>)")
PG = table_entity("priority_group", Table("watermarks", CDB, "", objects="pgs"),
                  (port_key(part(0)), Key("pg", part(1), prom="priority_group", otel="sonic.priority_group")),
                  "an ingress priority group (COUNTERS_PG_PORT_MAP / COUNTERS_PG_INDEX_MAP)")
QUEUE_WATERMARK = table_entity("queue_watermark", Table("watermarks", CDB, "", objects="queues"),
                               (port_key(part(0)), Key("queue", part(1), prom="queue", otel="sonic.queue.index"),
                                Key("type", part(2), prom="type", otel="sonic.queue.type")),
                               "an egress queue's watermarks")
BUFFER_POOL = table_entity("buffer_pool", Table("watermarks", CDB, "", objects="buffer_pools"),
                           (Key("pool", part(0), prom="pool", otel="sonic.buffer_pool"),),
                           "a buffer pool (COUNTERS_BUFFER_POOL_NAME_MAP)")
TRAP = table_entity("trap", Table("traps", CDB, "", objects="traps"),
                    (Key("trap", part(0), prom="trap", otel="sonic.trap"),),
                    "a CPU trap's flow counter (COUNTERS_TRAP_NAME_MAP)")

# SONiC trap ids (copp_cfg.json trap_ids; the names COUNTERS_TRAP_NAME_MAP uses) -> the probe
# class (bpf/port_probe.h) that counts the same frames arriving on the CPU's port netdevs.
TRAP_CLASSES: Dict[str, str] = {
    "bgp": "bgp", "bgpv6": "bgp", "lacp": "lacp", "lldp": "lldp", "stp": "stp", "pvrst": "stp",
    "arp_req": "arp", "arp_resp": "arp", "neigh_discovery": "nd", "dhcp": "dhcp", "dhcpv6": "dhcp6",
    "bfd": "bfd", "bfdv6": "bfd", "bfd_micro": "bfd", "bfdv6_micro": "bfd", "ssh": "ssh", "snmp": "snmp",
    "sample_packet": "sflow",
}


def cpu_path(snap) -> List[Tuple[str, int, int]]:
    """(probe class, trapped, received) for each class some mapped trap counts: the traps'
    packets summed per class against the probes' rx packets of that class on the port netdevs
    (EthernetN: where the ASIC hands trapped frames to the kernel; not the PortChannel or VLAN
    devices, which see the same frames again, nor the management port)."""
    trapped: Counter = Counter()
    for row in snap.families.get("trap", ()):
        klass = TRAP_CLASSES.get(row.key[0])
        if klass and "trap.packets" in row.values:
            trapped[klass] += int(row.values["trap.packets"])
    if not trapped:
        return []
    ports = {p.name for p in snap.ports if p.kind == "port"}
    received: Counter = Counter()
    for c in snap.probe_counts:
        if c.direction == "rx" and c.klass in trapped and c.port in ports:
            received[c.klass] += c.packets
    return [(klass, n, received[klass]) for klass, n in sorted(trapped.items())]


CPU_PATH = Entity("cpu_path", cpu_path, (Key("class", lambda r: r[0], prom="class", otel="telegen.probe.class"),),
                  help="per probe class, frames the ASIC trapped to the CPU and the probes saw arrive (README "
                       "lists the trap ids of each class)")


def _crm() -> List[Metric]:
    out = []
    for entity, field, prom, gnmi in (
            (CRM, "crm_stats_{resource}", "sonic_crm", "/telegen/crm/resource[name={resource}]/state/"),
            (CRM_ACL, "crm_stats_acl_{resource}", "sonic_crm_acl",
             "/telegen/crm/acl/stage[name={stage}]/bind-point[name={bind_point}]/resource[name={resource}]/state/"),
            (CRM_ACL_TABLE, "crm_stats_acl_{resource}", "sonic_crm_acl_table",
             "/telegen/crm/acl-table[id={table_id}]/resource[name={resource}]/state/")):
        for measure in ("used", "available"):
            out.append(field_metric(f"{entity.name}.{measure}", entity, STATE, "1", f"CRM: {measure} entries of a "
                                    f"resource (COUNTERS_DB {entity.table.name}).", f"{field}_{measure}",
                                    prom=f"{prom}_{measure}", otel=f"sonic.{entity.name.replace('_', '.')}.{measure}",
                                    gnmi=gnmi + measure))
    return out


def _watermarks() -> List[Metric]:
    out = []
    for entity, stat, what, stem, gnmi in (
            (PG, "SAI_INGRESS_PRIORITY_GROUP_STAT_", "priority group", "priority_group",
             "/telegen/ports/port[name={port}]/priority-groups/priority-group[index={pg}]/state/"),
            (QUEUE_WATERMARK, "SAI_QUEUE_STAT_", "queue", "queue",
             "/telegen/ports/port[name={port}]/queues/queue[index={queue}]/state/"),
            (BUFFER_POOL, "SAI_BUFFER_POOL_STAT_", "buffer pool", "buffer_pool",
             "/telegen/buffer-pools/pool[name={pool}]/state/")):
        kinds = [("shared", "SHARED_WATERMARK_BYTES")] if entity is not BUFFER_POOL else [("shared", "WATERMARK_BYTES")]
        if entity is not QUEUE_WATERMARK:
            kinds.append(("headroom", "XOFF_ROOM_WATERMARK_BYTES"))
        for kind, field in kinds:
            for table, period in (("USER_WATERMARKS", "user"), ("PERSISTENT_WATERMARKS", "persistent")):
                name = f"{entity.name}.{period}_{kind}_watermark"
                out.append(Metric(name, entity, GAUGE, "By", f"Peak {kind} buffer use of a {what} since the last "
                                  f"clear ({table}; user: `sonic-clear watermark`, persistent: since boot).",
                                  Source(CDB, table, stat + field), lambda r, name=name: r.values.get(name),
                                  prom=f"sonic_{stem}_watermark_bytes", prom_labels=(("kind", kind), ("period", period)),
                                  otel=f"sonic.{stem}.watermark",
                                  otel_attrs=(("sonic.watermark.kind", kind), ("sonic.watermark.period", period)),
                                  gnmi=gnmi + f"{period}-{kind}-watermark-bytes"))
    out.append(Metric("priority_group.dropped_packets", PG, COUNTER, "{packet}", "Packets a priority group dropped.",
                      Source(CDB, "COUNTERS", "SAI_INGRESS_PRIORITY_GROUP_STAT_DROPPED_PACKETS"),
                      lambda r: r.values.get("priority_group.dropped_packets"), prom="sonic_priority_group_dropped_packets",
                      otel="sonic.priority_group.dropped", gnmi="/telegen/ports/port[name={port}]/priority-groups/"
                      "priority-group[index={pg}]/state/dropped-packets"))
    return out


def _traps() -> List[Metric]:
    trap = "/telegen/traps/trap[name={trap}]/state/"
    out = [Metric(f"trap.{name}", TRAP, COUNTER, unit, help, Source(CDB, "COUNTERS", field),
                  lambda r, name=name: r.values.get(f"trap.{name}"), prom=f"sonic_trap_{name}",
                  otel=f"sonic.trap.{'io' if name == 'bytes' else name}", gnmi=trap + name)
           for name, field, unit, help in (
        ("packets", "SAI_COUNTER_STAT_PACKETS", "{packet}", "Packets the ASIC trapped to the CPU, per trap "
         "(COUNTERS_TRAP_NAME_MAP flow counters)."),
        ("bytes", "SAI_COUNTER_STAT_BYTES", "By", "Bytes the ASIC trapped to the CPU, per trap."))]
    out.append(Metric("trap.rate", TRAP, GAUGE, "{packet}/s", "Packets per second the ASIC traps (RATES).",
                      Source(CDB, "RATES", "RX_PPS"), lambda r: r.values.get("trap.rate"),
                      prom="sonic_trap_packets_per_second", otel="sonic.trap.rate", gnmi=trap + "rate"))
    cpu = "/telegen/cpu-path/class[name={class}]/state/"
    out += [
        Metric("cpu_path.trapped", CPU_PATH, COUNTER, "{packet}", "Packets the ASIC trapped to the CPU, summed over "
               "the traps of a probe class.", Source(CDB, "COUNTERS", "SAI_COUNTER_STAT_PACKETS"), lambda r: r[1],
               prom="telegen_cpu_path_trapped_packets", otel="telegen.cpu_path.trapped", gnmi=cpu + "trapped"),
        Metric("cpu_path.received", CPU_PATH, COUNTER, "{packet}", "Packets of that class the probes counted "
               "arriving (rx) on the port netdevs.", Source("kernel", "port_counts", "cls[class].packets"),
               lambda r: r[2], prom="telegen_cpu_path_received_packets", otel="telegen.cpu_path.received",
               gnmi=cpu + "received"),
        Metric("cpu_path.lost", CPU_PATH, GAUGE, "{packet}", "Trapped minus received: packets lost on the CPU path "
               "(the counters start at different times: compare increases, e.g. increase(trapped) - "
               "increase(received)).", Source("agent", "trapped - received"), lambda r: r[1] - r[2],
               prom="telegen_cpu_path_lost_packets", otel="telegen.cpu_path.lost", gnmi=cpu + "lost"),
    ]
    return out


def metrics() -> List[Metric]:
    return _crm() + _watermarks() + _traps()
