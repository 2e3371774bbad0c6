"""The lab's platform, routing and ASIC-resource state: what pmon, bgpcfgd, lldpd, orchagent's
CRM and flex counters and the ASIC's CPU traps publish on a switch.

- pmon: transceivers on the first half of the ports (TRANSCEIVER_INFO, _DOM_SENSOR with 4 lanes,
  _DOM_THRESHOLD, _STATUS_FLAG), two PSUs (PSU 2's temperature "N/A", as real tables have),
  four fans, temperature sensors, CHASSIS_INFO, SYSTEM_READY;
- bgpcfgd: NEIGH_STATE_TABLE Established while the interface holding the neighbor's
  `local_addr` is up, Idle otherwise (written on the link change);
- lldpd: LLDP_ENTRY_TABLE for every port whose link is up;
- orchagent: CRM:STATS; flex counters: priority-group and queue watermarks with their maps;
- the ASIC's CPU traps: COUNTERS_TRAP_NAME_MAP and each trap's COUNTERS, counting the frames
  of its kind that arrive on the switch's port netdevs (an AF_PACKET socket on the switch
  namespace, classified here; the lab's traffic is a few hundred frames a second), plus what
  `LAB_TRAP_LOSS` says was trapped and lost before the CPU (a test's injected loss).
"""
from __future__ import annotations

import ipaddress
import socket
import struct
import threading
from collections import Counter
from typing import Dict, Mapping, Optional

from sonic_agent.sonic.encoding import decode_fields

TRAP_OID_BASE = 0x2200000000000
PG_OID_BASE = 0x1A00000000000
QUEUE_OID_BASE = 0x1500000000000
TRAP_LOSS = "LAB_TRAP_LOSS"  # COUNTERS_DB, lab only: {trap: N} frames the "ASIC" trapped that never reached the CPU
TRAPS = ("bgp", "bgpv6", "lacp", "lldp", "arp_req", "arp_resp", "neigh_discovery", "dhcp", "dhcpv6", "bfd")
PACKET_OUTGOING = 4
ETH_P_ALL = 0x0003


def trap_of(frame: bytes) -> Optional[str]:
    """The CoPP trap an ASIC would send this frame to the CPU by (None: not trapped)."""
    if len(frame) < 14:
        return None
    ethertype, offset = struct.unpack_from("!H", frame, 12)[0], 14
    while ethertype in (0x8100, 0x88A8) and len(frame) >= offset + 4:
        ethertype, offset = struct.unpack_from("!H", frame, offset + 2)[0], offset + 4
    if ethertype == 0x88CC:
        return "lldp"
    if ethertype == 0x8809:
        return "lacp"
    if ethertype == 0x0806 and len(frame) >= offset + 8:
        return "arp_req" if struct.unpack_from("!H", frame, offset + 6)[0] == 1 else "arp_resp"
    if ethertype == 0x0800 and len(frame) >= offset + 20:
        proto, l4 = frame[offset + 9], offset + (frame[offset] & 0x0F) * 4
        return _l4_trap(proto, frame, l4, v6=False)
    if ethertype == 0x86DD and len(frame) >= offset + 40:
        proto, l4 = frame[offset + 6], offset + 40
        if proto == 58 and len(frame) > l4 and 133 <= frame[l4] <= 137:
            return "neigh_discovery"
        return _l4_trap(proto, frame, l4, v6=True)
    return None


def _l4_trap(proto: int, frame: bytes, l4: int, v6: bool) -> Optional[str]:
    if len(frame) < l4 + 4 or proto not in (6, 17):
        return None
    sport, dport = struct.unpack_from("!HH", frame, l4)
    if proto == 6 and 179 in (sport, dport):
        return "bgpv6" if v6 else "bgp"
    if proto == 17 and not v6 and {sport, dport} & {67, 68}:
        return "dhcp"
    if proto == 17 and v6 and {sport, dport} & {546, 547}:
        return "dhcpv6"
    if proto == 17 and dport in (3784, 4784):
        return "bfd"
    return None


class TrapCounter(threading.Thread):
    """Counts, per trap, the frames arriving on the switch's port netdevs (one raw socket)."""

    def __init__(self):
        super().__init__(name="lab-traps", daemon=True)
        self.ports: frozenset = frozenset()  # the port netdevs: set by the daemon as ports come and go
        self.counts: Counter = Counter()
        self.octets: Counter = Counter()
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)

    def run(self) -> None:
        while True:
            try:
                frame, (ifname, _, pkttype, *_) = self.sock.recvfrom(65535)
            except OSError:
                return  # closed by stop()
            trap = trap_of(frame) if pkttype != PACKET_OUTGOING and ifname in self.ports else None
            if trap:
                with self.lock:
                    self.counts[trap] += 1
                    self.octets[trap] += len(frame)

    def snapshot(self) -> Dict[str, tuple]:
        with self.lock:
            return {trap: (self.counts[trap], self.octets[trap]) for trap in TRAPS}

    def stop(self) -> None:
        self.sock.close()


class Platform:
    """Writes the tables above; `write(links)` every second, `links_changed(links)` at once."""

    def __init__(self, config_db, appl_db, state_db, counters_db):
        self.config_db, self.appl_db, self.state_db, self.counters_db = config_db, appl_db, state_db, counters_db
        self.bgp_state: Dict[str, str] = {}
        self.lldp_up: set = set()
        self.traps: Optional[TrapCounter] = None
        self.ticks = 0

    def start_traps(self) -> None:
        self.traps = TrapCounter()
        self.traps.start()

    def stop(self) -> None:
        if self.traps is not None:
            self.traps.stop()

    def forget_written(self) -> None:
        """redis restarted: what is written on change must be written again."""
        self.bgp_state.clear()
        self.lldp_up.clear()

    # --- on every link change -----------------------------------------------------------
    def links_changed(self, links: Mapping[str, dict], oids: Mapping[str, str]) -> None:
        if self.traps is not None:
            self.traps.ports = frozenset(links)
        self._write_bgp(links)
        self._write_lldp(links)

    def _interface_up(self, links: Mapping[str, dict]) -> Dict[str, bool]:
        """Interfaces with addresses (ports, PortChannels) -> up; a PortChannel is up while a member is."""
        up = {port: link["oper"] == "up" for port, link in links.items()}
        for key in self.config_db.scan_iter(match="PORTCHANNEL_MEMBER|*", count=1000):
            _, lag, member = key.split("|", 2)
            up[lag] = up.get(lag, False) or up.get(member, False)
        return up

    def _write_bgp(self, links: Mapping[str, dict]) -> None:
        up = self._interface_up(links)
        owners = {}
        for table in ("INTERFACE", "PORTCHANNEL_INTERFACE"):
            for key in self.config_db.scan_iter(match=f"{table}|*|*", count=1000):
                _, interface, prefix = key.split("|", 2)
                try:
                    owners[str(ipaddress.ip_interface(prefix).ip)] = interface
                except ValueError:
                    continue
        pipe = self.state_db.pipeline(transaction=False)
        for key in self.config_db.scan_iter(match="BGP_NEIGHBOR|*", count=1000):
            neighbor = key.split("|", 1)[1]
            local = decode_fields(self.config_db.hgetall(key)).get("local_addr", "")
            state = "Established" if up.get(owners.get(local, ""), False) else "Idle"
            if self.bgp_state.get(neighbor) != state:
                self.bgp_state[neighbor] = state
                pipe.hset(f"NEIGH_STATE_TABLE|{neighbor}", mapping={"state": state})
        pipe.execute()

    def _write_lldp(self, links: Mapping[str, dict]) -> None:
        pipe = self.appl_db.pipeline(transaction=False)
        for i, (port, link) in enumerate(sorted(links.items())):
            if link["oper"] == "up" and port not in self.lldp_up:
                self.lldp_up.add(port)
                pipe.hset(f"LLDP_ENTRY_TABLE:{port}", mapping={
                    "lldp_rem_sys_name": f"nbr-{port.lower()}", "lldp_rem_port_id": "eth1",
                    "lldp_rem_port_desc": f"to sw:{port}", "lldp_rem_chassis_id": f"52:54:00:aa:00:{i:02x}",
                    "lldp_rem_man_addr": f"10.250.1.{i + 1}"})
            elif link["oper"] != "up" and port in self.lldp_up:
                self.lldp_up.discard(port)
                pipe.delete(f"LLDP_ENTRY_TABLE:{port}")
        pipe.execute()

    # --- every second ---------------------------------------------------------------------
    def write(self, links: Mapping[str, dict], oids: Mapping[str, str]) -> None:
        self.ticks += 1
        ports = sorted(oids)
        state = self.state_db.pipeline(transaction=False)
        for i, port in enumerate(ports[:(len(ports) + 1) // 2]):
            _transceiver(state, port, i, self.ticks)
        for n, (power, temp) in enumerate((("96.8", "34.5"), ("101.2", "N/A")), 1):
            state.hset(f"PSU_INFO|PSU {n}", mapping={
                "presence": "true", "status": "true", "model": "TG-PSU-650", "serial": f"TGPSU{n:04d}",
                "revision": "A", "voltage": "12.10", "current": f"{float(power) / 12.1:.2f}", "power": power,
                "temp": temp})
        for n in range(1, 5):
            state.hset(f"FAN_INFO|fan{n}", mapping={
                "drawer_name": f"drawer{(n + 1) // 2}", "presence": "True", "status": "True", "direction": "intake",
                "speed": str(40 + n), "speed_target": "40", "speed_tolerance": "50", "model": "N/A"})
        for name, value in (("CPU", 41.0), ("ASIC", 55.5), ("Ambient", 27.0)):
            state.hset(f"TEMPERATURE_INFO|{name}", mapping={
                "temperature": f"{value + (self.ticks % 3) * 0.5:.1f}", "high_threshold": "85",
                "critical_high_threshold": "95", "low_threshold": "0", "warning_status": "False"})
        state.hset("CHASSIS_INFO|chassis 1", mapping={"psu_num": "2", "model": "TG-LAB-8", "serial": "TGLAB0001"})
        state.hset("SYSTEM_READY|SYSTEM_STATE", mapping={"Status": "UP"})
        state.execute()
        self._write_counters(links, oids)

    def _write_counters(self, links: Mapping[str, dict], oids: Mapping[str, str]) -> None:
        pipe = self.counters_db.pipeline(transaction=False)
        routes = sum(1 for _ in self.config_db.scan_iter(match="INTERFACE|*|*", count=1000))
        pipe.hset("CRM:STATS", mapping={"crm_stats_ipv4_route_used": str(routes), "crm_stats_ipv4_route_available":
                                        str(98304 - routes), "crm_stats_ipv4_neighbor_used": str(len(links)),
                                        "crm_stats_ipv4_neighbor_available": str(8192 - len(links))})
        pg_names, pg_ports, pg_indexes, q_names, q_ports, q_indexes, q_types = {}, {}, {}, {}, {}, {}, {}
        for i, port in enumerate(sorted(oids)):
            rx = links.get(port, {}).get("stats", {}).get("rx_bytes", 0)
            tx = links.get(port, {}).get("stats", {}).get("tx_bytes", 0)
            for index in range(8):
                pg = f"oid:0x{PG_OID_BASE + i * 8 + index:x}"
                pg_names[f"{port}:{index}"], pg_ports[pg], pg_indexes[pg] = pg, oids[port], str(index)
                peak = rx % 65536 if index == 0 else 0
                for table, scale in (("USER_WATERMARKS", 1), ("PERSISTENT_WATERMARKS", 2)):
                    pipe.hset(f"{table}:{pg}", mapping={"SAI_INGRESS_PRIORITY_GROUP_STAT_SHARED_WATERMARK_BYTES":
                                                        str(peak * scale),
                                                        "SAI_INGRESS_PRIORITY_GROUP_STAT_XOFF_ROOM_WATERMARK_BYTES": "0"})
            for index in range(2):
                q = f"oid:0x{QUEUE_OID_BASE + i * 2 + index:x}"
                q_names[f"{port}:{index}"], q_ports[q], q_indexes[q] = q, oids[port], str(index)
                q_types[q] = "SAI_QUEUE_TYPE_UNICAST" if index == 0 else "SAI_QUEUE_TYPE_MULTICAST"
                sent = tx if index == 0 else 0
                pipe.hset(f"COUNTERS:{q}", mapping={"SAI_QUEUE_STAT_BYTES": str(sent), "SAI_QUEUE_STAT_PACKETS":
                                                    str(sent // 100), "SAI_QUEUE_STAT_DROPPED_PACKETS": "0"})
                pipe.hset(f"USER_WATERMARKS:{q}", mapping={"SAI_QUEUE_STAT_SHARED_WATERMARK_BYTES": str(sent % 4096)})
        for name, mapping in (("COUNTERS_PG_NAME_MAP", pg_names), ("COUNTERS_PG_PORT_MAP", pg_ports),
                              ("COUNTERS_PG_INDEX_MAP", pg_indexes), ("COUNTERS_QUEUE_NAME_MAP", q_names),
                              ("COUNTERS_QUEUE_PORT_MAP", q_ports), ("COUNTERS_QUEUE_INDEX_MAP", q_indexes),
                              ("COUNTERS_QUEUE_TYPE_MAP", q_types)):
            pipe.delete(name)
            if mapping:
                pipe.hset(name, mapping=mapping)
        if self.traps is not None:
            traps = self.traps.snapshot()
            lost = self.counters_db.hgetall(TRAP_LOSS)
            pipe.hset("COUNTERS_TRAP_NAME_MAP", mapping={t: f"oid:0x{TRAP_OID_BASE + i:x}" for i, t in enumerate(TRAPS)})
            for i, trap in enumerate(TRAPS):
                packets, octets = traps[trap]
                packets += int(lost.get(trap, 0)) if str(lost.get(trap, "0")).isdigit() else 0
                pipe.hset(f"COUNTERS:oid:0x{TRAP_OID_BASE + i:x}", mapping={
                    "SAI_COUNTER_STAT_PACKETS": str(packets), "SAI_COUNTER_STAT_BYTES": str(octets)})
        pipe.execute()

    def forget(self, port: str) -> None:
        self.state_db.delete(*(f"{t}|{port}" for t in ("TRANSCEIVER_INFO", "TRANSCEIVER_DOM_SENSOR",
                                                       "TRANSCEIVER_DOM_THRESHOLD", "TRANSCEIVER_STATUS_FLAG")))
        self.appl_db.delete(f"LLDP_ENTRY_TABLE:{port}")
        self.lldp_up.discard(port)


def _transceiver(pipe, port: str, i: int, tick: int) -> None:
    pipe.hset(f"TRANSCEIVER_INFO|{port}", mapping={
        "type": "QSFP28 or later", "manufacturer": "TelegenLab", "model": "TG-QSFP28-SR4", "serial": f"TGX{i:06d}",
        "vendor_rev": "A1", "vendor_oui": "00-11-22", "connector": "MPO 1x12", "cable_type": "Length OM3(2m)"})
    dom = {"temperature": f"{30 + i + (tick % 4) * 0.25:.2f}", "voltage": "3.2950"}
    for lane in range(1, 5):
        dom.update({f"rx{lane}power": f"{-1.5 - 0.1 * lane:.2f}", f"tx{lane}power": f"{-0.5 - 0.1 * lane:.2f}",
                    f"tx{lane}bias": f"{6.5 + 0.1 * lane:.2f}"})
    pipe.hset(f"TRANSCEIVER_DOM_SENSOR|{port}", mapping=dom)
    pipe.hset(f"TRANSCEIVER_DOM_THRESHOLD|{port}", mapping={
        "temphighalarm": "75.0", "temphighwarning": "70.0", "templowalarm": "-5.0", "templowwarning": "0.0",
        "rxpowerhighalarm": "3.4", "rxpowerlowalarm": "-13.5", "txbiashighalarm": "10.0", "txbiaslowalarm": "0.5"})
    pipe.hset(f"TRANSCEIVER_STATUS_FLAG|{port}", mapping={f"rx{lane}los": "False" for lane in range(1, 5)})
