"""The switch's own families: device, ports, PortChannels, VLANs, COUNTERS_DB port and queue counters."""
from __future__ import annotations

from operator import attrgetter
from typing import List, Optional, Tuple

from .model import COUNTER, GAUGE, INFO, STATE, Entity, Key, Metric, Source

DIRECTIONS = {"rx": "receive", "tx": "transmit"}  # neutral -> OTel network.io.direction


def port_key(get="port") -> Key:
    return Key("port", get, prom="port", otel="network.interface.name", port=True)


def namespace_of(get="namespace") -> Key:
    """Which namespace's port a port key names (multi-ASIC: names may repeat across ASICs)."""
    return Key("namespace", get, namespace=True)


def flag(status: str, yes: str, no: str) -> Optional[int]:
    """'up'/'down' (any case) -> 1/0; empty or unknown -> None (no sample)."""
    status = status.lower()
    return 1 if status == yes else 0 if status == no else None


DEVICE = Entity("device", lambda s: (s.device,), help="DEVICE_METADATA|localhost")
PORT = Entity("port", lambda s: s.ports, (port_key("name"), namespace_of()),
              help="every port, PortChannel and VLAN the model knows")
LAG = Entity("lag", lambda s: s.lags, (port_key("name"), namespace_of()), help="a PortChannel")
LAG_MEMBER = Entity("lag_member", lambda s: ((lag, m) for lag in s.lags for m in lag.members),
                    (port_key(lambda r: r[1].port), Key("lag", lambda r: r[0].name, prom="lag", otel="sonic.lag.name"),
                     namespace_of(lambda r: r[0].namespace)),
                    help="a PortChannel member port")
VLAN = Entity("vlan", lambda s: s.vlans, (port_key("name"), namespace_of()), help="a VLAN")
VLAN_MEMBER = Entity("vlan_member", lambda s: ((vlan, m) for vlan in s.vlans for m in vlan.members),
                     (port_key(lambda r: r[1].port), Key("vlan", lambda r: r[0].name, prom="vlan", otel="sonic.vlan.name"),
                      Key("tagging_mode", lambda r: r[1].tagging_mode, prom="tagging_mode",
                          otel="sonic.vlan.tagging_mode"), namespace_of(lambda r: r[0].namespace)),
                     help="a VLAN member (port or PortChannel)")
PORT_COUNTERS = Entity("port_counters", lambda s: s.port_counters, (port_key(), namespace_of()),
                       help="COUNTERS_DB, per port")
QUEUE = Entity("queue", lambda s: s.queue_counters,
               (port_key(), Key("queue", "queue", prom="queue", otel="sonic.queue.index"),
                Key("type", "type", prom="type", otel="sonic.queue.type"), namespace_of()),
               otel_attrs=(("network.io.direction", "transmit"),), help="COUNTERS_DB, per egress queue")

CFG, APPL, STATE_DB = "CONFIG_DB", "APPL_DB", "STATE_DB"
IFACE = "/interfaces/interface[name={port}]"
TPORT = "/telegen/ports/port[name={port}]"


def _device() -> List[Metric]:
    out = []
    for attr, gnmi in (("hostname", "/system/state/hostname"), ("hwsku", "/telegen/device/state/hwsku"),
                       ("platform", "/telegen/device/state/platform"),
                       ("sonic_version", "/telegen/device/state/sonic-version")):
        source = Source("/etc/sonic/sonic_version.yml", field="build_version") if attr == "sonic_version" else \
            Source(CFG, "DEVICE_METADATA|localhost", attr)
        out.append(Metric(f"device.{attr}", DEVICE, INFO, "", "The switch (DEVICE_METADATA|localhost).", source,
                          attrgetter(attr), prom="sonic_device_info", info_label=attr, gnmi=gnmi))
    out.append(Metric("device.mac", DEVICE, INFO, "", "The switch's base MAC address.", Source(CFG, "DEVICE_METADATA", "mac"),
                      attrgetter("mac"), gnmi="/telegen/device/state/mac"))
    return out


def _ports() -> List[Metric]:
    def upper(attr):
        return lambda p: getattr(p, attr).upper()

    def up(attr):
        return lambda p: flag(getattr(p, attr), "up", "down")

    info = "A port the model knows, with its labels."
    return [
        Metric("port.kind", PORT, INFO, "", info, Source("model", field="port, portchannel or vlan"),
               attrgetter("kind"), prom="sonic_port_info", info_label="kind", gnmi=TPORT + "/state/kind"),
        Metric("port.lag", PORT, INFO, "", "The PortChannel a port is a member of.",
               Source(CFG, "PORTCHANNEL_MEMBER"), attrgetter("lag"), prom="sonic_port_info", info_label="lag",
               gnmi=TPORT + "/state/lag"),
        Metric("port.description", PORT, INFO, "", "A port's description.", Source(CFG, "PORT", "description"),
               attrgetter("description"), prom="sonic_port_info", info_label="description",
               gnmi=IFACE + "/state/description"),
        Metric("port.admin_up", PORT, STATE, "1", "1 if the port is admin up (CONFIG_DB).",
               Source(CFG, "PORT", "admin_status"), up("admin_status"), prom="sonic_port_admin_up"),
        Metric("port.oper_up", PORT, STATE, "1", "1 if the ASIC link is up (APPL_DB PORT_TABLE oper_status).",
               Source(APPL, "PORT_TABLE", "oper_status"), up("oper_status"), prom="sonic_port_oper_up",
               otel="hw.network.up"),
        Metric("port.netdev_oper_up", PORT, STATE, "1", "1 if the kernel netdev is up (STATE_DB).",
               Source(STATE_DB, "PORT_TABLE", "netdev_oper_status"), up("netdev_oper_status"),
               prom="sonic_port_netdev_oper_up"),
        Metric("port.speed", PORT, STATE, "By/s", "Configured port speed.", Source(CFG, "PORT", "speed"),
               lambda p: None if p.speed_mbps is None else p.speed_mbps * 125_000,
               prom="sonic_port_speed_bytes_per_second", otel="hw.network.bandwidth.limit"),
        Metric("port.mtu", PORT, STATE, "By", "Configured MTU.", Source(CFG, "PORT", "mtu"), attrgetter("mtu"),
               prom="sonic_port_mtu_bytes", gnmi=IFACE + "/state/mtu"),
        Metric("port.name", PORT, INFO, "", "The port's name.", Source(CFG, "PORT"), attrgetter("name"),
               gnmi=IFACE + "/state/name"),
        Metric("port.ifindex", PORT, STATE, "1", "The kernel ifindex of the port's netdev.",
               Source("kernel", "netlink", "ifindex"), attrgetter("ifindex"), gnmi=IFACE + "/state/ifindex"),
        Metric("port.admin_status", PORT, INFO, "", "UP or DOWN (CONFIG_DB admin_status).",
               Source(CFG, "PORT", "admin_status"), upper("admin_status"), gnmi=IFACE + "/state/admin-status"),
        Metric("port.oper_status", PORT, INFO, "", "UP or DOWN (APPL_DB PORT_TABLE oper_status).",
               Source(APPL, "PORT_TABLE", "oper_status"), upper("oper_status"), gnmi=IFACE + "/state/oper-status"),
        Metric("port.aggregate_id", PORT, INFO, "", "The PortChannel a port is a member of.",
               Source(CFG, "PORTCHANNEL_MEMBER"), attrgetter("lag"), gnmi=IFACE + "/ethernet/state/aggregate-id"),
        Metric("port.alias", PORT, INFO, "", "The port's alias.", Source(CFG, "PORT", "alias"), attrgetter("alias"),
               gnmi=TPORT + "/state/alias"),
        Metric("port.namespace", PORT, INFO, "", "The ASIC namespace (multi-ASIC).", Source("database_config.json"),
               attrgetter("namespace"), gnmi=TPORT + "/state/namespace"),
        Metric("port.speed_mbps", PORT, STATE, "Mbit/s", "Configured port speed.", Source(CFG, "PORT", "speed"),
               attrgetter("speed_mbps"), gnmi=TPORT + "/state/speed-mbps"),
        Metric("port.netdev_oper_status", PORT, INFO, "", "UP or DOWN (STATE_DB PORT_TABLE netdev_oper_status).",
               Source(STATE_DB, "PORT_TABLE", "netdev_oper_status"), upper("netdev_oper_status"),
               gnmi=TPORT + "/state/netdev-oper-status"),
    ]


def _memberships() -> List[Metric]:
    return [
        Metric("lag.members", LAG, STATE, "{port}", "Member ports of a PortChannel (CONFIG_DB).",
               Source(CFG, "PORTCHANNEL_MEMBER"), lambda lag: len(lag.members), prom="sonic_lag_members",
               otel="sonic.lag.members"),
        Metric("lag.member_names", LAG, INFO, "", "Member ports of a PortChannel (leaf-list).",
               Source(CFG, "PORTCHANNEL_MEMBER"), lambda lag: [m.port for m in lag.members],
               gnmi=IFACE + "/aggregation/state/member"),
        Metric("lag_member.enabled", LAG_MEMBER, STATE, "1", "1 if a PortChannel member is enabled (APPL_DB "
               "LAG_MEMBER_TABLE status).", Source(APPL, "LAG_MEMBER_TABLE", "status"),
               lambda r: flag(r[1].status, "enabled", "disabled"), prom="sonic_lag_member_enabled",
               otel="sonic.lag.member.enabled"),
        Metric("lag_member.status", LAG_MEMBER, INFO, "", "enabled or disabled (APPL_DB LAG_MEMBER_TABLE status).",
               Source(APPL, "LAG_MEMBER_TABLE", "status"), lambda r: r[1].status,
               gnmi=TPORT + "/state/lag-member-status"),
        Metric("vlan.members", VLAN, STATE, "{port}", "Members of a VLAN (CONFIG_DB VLAN_MEMBER).",
               Source(CFG, "VLAN_MEMBER"), lambda vlan: len(vlan.members), prom="sonic_vlan_members",
               otel="sonic.vlan.members"),
        Metric("vlan_member.info", VLAN_MEMBER, STATE, "1", "A VLAN member with its tagging mode (CONFIG_DB "
               "VLAN_MEMBER).", Source(CFG, "VLAN_MEMBER", "tagging_mode"), lambda r: 1,
               prom="sonic_vlan_member_info", otel="sonic.vlan.member"),
        Metric("vlan_member.tagging_mode", VLAN_MEMBER, INFO, "", "tagged or untagged (CONFIG_DB VLAN_MEMBER).",
               Source(CFG, "VLAN_MEMBER", "tagging_mode"), lambda r: r[1].tagging_mode,
               gnmi=TPORT + "/vlans/vlan[name={vlan}]/state/tagging-mode"),
    ]


def counters_db(name: str, entity: Entity, table: str, field: str, kind: str, unit: str, help: str,
                prom: str, prom_labels: Tuple[Tuple[str, str], ...], otel: str,
                otel_attrs: Tuple[Tuple[str, str], ...], gnmi: Optional[str]) -> Metric:
    """A COUNTERS_DB field of every port (or queue): the reader reads `field` of `table`:<oid>
    and keeps it under `name` in the record's values."""
    return Metric(name, entity, kind, unit, help, Source("COUNTERS_DB", table, field),
                  lambda record: record.values.get(name), prom=prom, prom_labels=prom_labels, otel=otel,
                  otel_attrs=otel_attrs, gnmi=gnmi)


def _port_counters() -> List[Metric]:
    out = []
    for measure, sai, prom, otel, unit, help, extra in (
            ("octets", "OCTETS", "sonic_port_bytes", "hw.network.io", "By",
             "Bytes through the port (COUNTERS_DB SAI_PORT_STAT_IF_IN/OUT_OCTETS).", ()),
            ("ucast_pkts", "UCAST_PKTS", "sonic_port_packets", "hw.network.packets", "{packet}",
             "Packets through the port by cast (COUNTERS_DB).", ("unicast",)),
            ("mcast_pkts", "MULTICAST_PKTS", "sonic_port_packets", "hw.network.packets", "{packet}", "", ("multicast",)),
            ("bcast_pkts", "BROADCAST_PKTS", "sonic_port_packets", "hw.network.packets", "{packet}", "", ("broadcast",)),
            ("errors", "ERRORS", "sonic_port_errors", "hw.errors", "{error}",
             "Errored packets (COUNTERS_DB IF_IN/OUT_ERRORS).", ()),
            ("discards", "DISCARDS", "sonic_port_discards", "sonic.port.discards", "{packet}",
             "Discarded packets (COUNTERS_DB IF_IN/OUT_DISCARDS).", ())):
        for way, direction in (("in", "rx"), ("out", "tx")):
            labels = (("direction", direction),) + ((("cast", extra[0]),) if extra else ())
            attrs = (("network.io.direction", DIRECTIONS[direction]),) + (
                (("sonic.packet.cast", extra[0]),) if extra else ()) + (
                (("hw.type", "network"),) if measure == "errors" else ())
            leaf = {"octets": "octets", "ucast_pkts": "unicast-pkts", "mcast_pkts": "multicast-pkts",
                    "bcast_pkts": "broadcast-pkts", "errors": "errors", "discards": "discards"}[measure]
            out.append(counters_db(f"port.{way}_{measure}", PORT_COUNTERS, "COUNTERS",
                                   f"SAI_PORT_STAT_IF_{way.upper()}_{sai}", COUNTER, unit, help, prom, labels,
                                   otel, attrs, f"{IFACE}/state/counters/{way}-{leaf}"))
    sizes = ("64", "65_TO_127", "128_TO_255", "256_TO_511", "512_TO_1023", "1024_TO_1518", "1519_TO_2047",
             "2048_TO_4095", "4096_TO_9216", "9217_TO_16383")
    for way, direction in (("in", "rx"), ("out", "tx")):
        for size in sizes:
            shown = size.replace("_TO_", "-")
            out.append(counters_db(f"port.{way}_frames_{size.lower()}", PORT_COUNTERS, "COUNTERS",
                                   f"SAI_PORT_STAT_ETHER_{way.upper()}_PKTS_{size}_OCTETS", COUNTER, "{packet}",
                                   "Frames by size in bytes (COUNTERS_DB SAI_PORT_STAT_ETHER_IN/OUT_PKTS_*_OCTETS).",
                                   "sonic_port_frames_by_size", (("direction", direction), ("size", shown)),
                                   "sonic.port.frames", (("network.io.direction", DIRECTIONS[direction]),
                                                         ("sonic.frame.size", shown)),
                                   f"{TPORT}/frame-sizes/{way}-{shown}"))
        for priority in range(8):
            out.append(counters_db(f"port.{way}_pfc{priority}", PORT_COUNTERS, "COUNTERS",
                                   f"SAI_PORT_STAT_PFC_{priority}_{direction.upper()}_PKTS", COUNTER, "{packet}",
                                   "PFC pause frames per priority (COUNTERS_DB SAI_PORT_STAT_PFC_<p>_RX/TX_PKTS).",
                                   "sonic_port_pfc_packets", (("direction", direction), ("priority", str(priority))),
                                   "sonic.port.pfc", (("network.io.direction", DIRECTIONS[direction]),
                                                      ("sonic.pfc.priority", priority)),
                                   f"{TPORT}/pfc/priority[index={priority}]/state/{direction}-packets"))
    for color in ("GREEN", "YELLOW", "RED", ""):
        shown = color.lower() or "all"
        out.append(counters_db(f"port.wred_dropped_{shown}", PORT_COUNTERS, "COUNTERS",
                               f"SAI_PORT_STAT_{color + '_' if color else ''}WRED_DROPPED_PACKETS", COUNTER, "{packet}",
                               "Packets WRED dropped on the port, by color (all: every color).",
                               "sonic_port_wred_dropped_packets", (("color", shown),), "sonic.port.wred.dropped",
                               (("sonic.wred.color", shown),), f"{TPORT}/wred/state/dropped-{shown}"))
    for name, field, help in (
            ("fec_correctable", "SAI_PORT_STAT_IF_IN_FEC_CORRECTABLE_FRAMES", "Frames FEC corrected."),
            ("fec_uncorrectable", "SAI_PORT_STAT_IF_IN_FEC_NOT_CORRECTABLE_FRAMES", "Frames FEC could not correct."),
            ("fec_symbol_errors", "SAI_PORT_STAT_IF_IN_FEC_SYMBOL_ERRORS", "FEC symbol errors."),
            ("undersize", "SAI_PORT_STAT_ETHER_STATS_UNDERSIZE_PKTS", "Undersized frames received."),
            ("fragments", "SAI_PORT_STAT_ETHER_STATS_FRAGMENTS", "Fragments received."),
            ("jabbers", "SAI_PORT_STAT_ETHER_STATS_JABBERS", "Jabbers received.")):
        out.append(counters_db(f"port.{name}", PORT_COUNTERS, "COUNTERS", field, COUNTER, "{frame}",
                               help + f" (COUNTERS_DB {field}).", f"sonic_port_{name}_frames"
                               if name.startswith("fec_c") or name.startswith("fec_u") else f"sonic_port_{name}",
                               (), f"sonic.port.{name.replace('_', '.')}", (("network.io.direction", "receive"),),
                               f"{TPORT}/counters/{name.replace('_', '-')}"))
    for direction in ("rx", "tx"):
        for measure, unit, prom, otel, help in (
                ("bps", "By/s", "sonic_port_rate_bytes_per_second", "sonic.port.io.rate", "Byte rate (COUNTERS_DB RATES)."),
                ("pps", "{packet}/s", "sonic_port_rate_packets_per_second", "sonic.port.packets.rate",
                 "Packet rate (COUNTERS_DB RATES).")):
            out.append(counters_db(f"port.{direction}_{measure}", PORT_COUNTERS, "RATES",
                                   f"{direction.upper()}_{measure.upper()}", GAUGE, unit, help, prom,
                                   (("direction", direction),), otel,
                                   (("network.io.direction", DIRECTIONS[direction]),),
                                   f"{TPORT}/rates/{direction}-{measure}"))
    return out


def _queues() -> List[Metric]:
    qos = "/qos/interfaces/interface[interface-id={port}]/output/queues/queue[name={queue}]/state/"
    own = TPORT + "/queues/queue[index={queue}]/state/"
    out = [counters_db(f"queue.{name}", QUEUE, "COUNTERS", field, COUNTER, unit, help, f"sonic_queue_{name}", (),
                       otel, (), qos + leaf) for name, field, unit, help, otel, leaf in (
        ("packets", "SAI_QUEUE_STAT_PACKETS", "{packet}", "Packets through an egress queue (COUNTERS_DB).",
         "sonic.queue.packets", "transmit-pkts"),
        ("bytes", "SAI_QUEUE_STAT_BYTES", "By", "Bytes through an egress queue (COUNTERS_DB).", "sonic.queue.io",
         "transmit-octets"),
        ("dropped_packets", "SAI_QUEUE_STAT_DROPPED_PACKETS", "{packet}", "Packets an egress queue dropped.",
         "sonic.queue.dropped", "dropped-pkts"),
        ("dropped_bytes", "SAI_QUEUE_STAT_DROPPED_BYTES", "By", "Bytes an egress queue dropped.",
         "sonic.queue.dropped.io", "dropped-octets"))]
    out += [counters_db(f"queue.{name}", QUEUE, "COUNTERS", field, COUNTER, unit, help, f"sonic_queue_{name}", (),
                        f"sonic.queue.{name.replace('_', '.')}", (), own + name.replace("_", "-"))
            for name, field, unit, help in (
        ("wred_dropped_packets", "SAI_QUEUE_STAT_WRED_DROPPED_PACKETS", "{packet}", "Packets WRED dropped in a queue."),
        ("wred_dropped_bytes", "SAI_QUEUE_STAT_WRED_DROPPED_BYTES", "By", "Bytes WRED dropped in a queue."),
        ("ecn_marked_packets", "SAI_QUEUE_STAT_WRED_ECN_MARKED_PACKETS", "{packet}", "Packets ECN-marked in a queue."),
        ("ecn_marked_bytes", "SAI_QUEUE_STAT_WRED_ECN_MARKED_BYTES", "By", "Bytes ECN-marked in a queue."))]
    out.append(counters_db("queue.shared_watermark_bytes", QUEUE, "COUNTERS", "SAI_QUEUE_STAT_SHARED_WATERMARK_BYTES",
                           GAUGE, "By", "Peak shared-buffer use of an egress queue since the last read.",
                           "sonic_queue_shared_watermark_bytes", (), "sonic.queue.shared_watermark", (),
                           own + "shared-watermark-bytes"))
    out.append(Metric("queue.type", QUEUE, INFO, "", "unicast, multicast or all (COUNTERS_QUEUE_TYPE_MAP).",
                      Source("COUNTERS_DB", "COUNTERS_QUEUE_TYPE_MAP"), attrgetter("type"), gnmi=own + "type"))
    return out


def metrics() -> List[Metric]:
    return _device() + _ports() + _port_counters() + _memberships() + _queues()
