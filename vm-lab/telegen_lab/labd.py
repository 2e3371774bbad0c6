"""The lab's state daemon: plays portsyncd/portmgrd/orchagent/syncd for the virtual switch.

Runs inside the switch namespace and, every half second:
- creates or removes port netdevs as CONFIG_DB's PORT table changes (keyspace events);
- writes the kernel link state to APPL_DB `PORT_TABLE:<port>` (oper_status, flap_count,
  last_up/down_time) and STATE_DB `PORT_TABLE|<port>` (netdev_oper_status), on change;
- every second writes COUNTERS_DB: `COUNTERS_PORT_NAME_MAP`, `COUNTERS:<oid>` SAI port
  counters from the kernel's link statistics, and `RATES:<oid>` bps/pps;
- plays the ASIC's mirror (telegen_lab.mirroring, a thread): follows MIRROR_SESSION and the
  EVERFLOW ACLs, copies the real frames crossing their ports as ERSPAN to eth0, and keeps
  STATE_DB `MIRROR_SESSION_TABLE|<name>` status;
- keeps APPL_DB `LAG_TABLE:<lag>` (up while a member is up) and `LAG_MEMBER_TABLE`, as
  teamsyncd does;
- publishes the platform, BGP, LLDP, CRM, watermark and CPU-trap tables (telegen_lab.platform);
- survives a redis restart (waits, then writes everything again) and ports removed under it.
The ASIC's counters are the one thing mocked here: the kernel's veth statistics stand in
(and its mirroring is done in software, on the frames the kernel forwards).
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from typing import Dict, Optional

import redis
from pyroute2 import IPRoute
from sonic_agent.errors import UserError
from sonic_agent.logs import setup_logging
from sonic_agent.sonic.dbconfig import load_database_config
from sonic_agent.sonic.encoding import decode_fields
from sonic_agent.sonic.follower import backoff_delay
from sonic_agent.sonic.view import natural_key

from .mirroring import MirrorEmulator
from .platform import Platform
from .topology import LabLayout, ip_batch, port_commands

log = logging.getLogger("telegen.lab.labd")
OID_BASE = 0x1000000000000
RECONNECT_MAX_S = 2.0
SAI_COUNTERS = {  # SAI counter -> kernel IFLA_STATS64 field(s)
    "SAI_PORT_STAT_IF_IN_OCTETS": ("rx_bytes",), "SAI_PORT_STAT_IF_OUT_OCTETS": ("tx_bytes",),
    "SAI_PORT_STAT_IF_IN_MULTICAST_PKTS": ("multicast",),
    "SAI_PORT_STAT_IF_IN_ERRORS": ("rx_errors",), "SAI_PORT_STAT_IF_OUT_ERRORS": ("tx_errors",),
    "SAI_PORT_STAT_IF_IN_DISCARDS": ("rx_dropped",), "SAI_PORT_STAT_IF_OUT_DISCARDS": ("tx_dropped",),
}


class StateDaemon:
    def __init__(self, layout: LabLayout):
        self.layout = layout
        dbs = load_database_config(str(layout.db_config))
        self.config_db = dbs.connect("CONFIG_DB")
        self.appl_db = dbs.connect("APPL_DB")
        self.state_db = dbs.connect("STATE_DB")
        self.counters_db = dbs.connect("COUNTERS_DB")
        self.config_db_id = dbs.db("CONFIG_DB").id
        self.ipr = IPRoute()
        self.link_state: Dict[str, str] = {}
        self.flaps: Dict[str, int] = {}
        self.oids: Dict[str, str] = {}
        self.previous: Dict[str, tuple] = {}  # port -> (time, rx_bytes, tx_bytes, rx_pkts, tx_pkts)
        self.lag_state: Dict[str, tuple] = {}  # lag -> (members, members up) last written
        self.platform = Platform(self.config_db, self.appl_db, self.state_db, self.counters_db)
        self.mirror = MirrorEmulator(layout, dbs.connect("CONFIG_DB"), dbs.connect("STATE_DB"), self.config_db_id)

    def run(self) -> None:
        """Until the process is signalled: everything it keeps lives in redis, which `lab down`
        removes, so it stops at once, not after its current wait. When redis goes away (a
        restart), it waits with capped, jittered backoff, then, once CONFIG_DB is loaded again
        (CONFIG_DB_INITIALIZED, as SONiC's daemons wait for it), writes every state afresh."""
        self.platform.start_traps()
        self.mirror.start()  # its own thread, which rides out redis restarts itself
        failures = 0
        while True:
            try:
                if self.config_db.get("CONFIG_DB_INITIALIZED"):
                    failures = 0
                    self.serve()
                time.sleep(0.2)  # CONFIG_DB not loaded yet
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                failures += 1
                delay = backoff_delay(failures, RECONNECT_MAX_S)
                (log.warning if failures == 1 else log.debug)(
                    "redis unavailable; retrying", extra={"error": str(exc)[:200], "retry_s": round(delay, 2)})
                self.forget_written()
                time.sleep(delay)

    def forget_written(self) -> None:
        """What was written is gone with redis: write everything again once it is back."""
        self.link_state.clear()
        self.lag_state.clear()
        self.previous.clear()
        self.platform.forget_written()

    def serve(self) -> None:
        pubsub = self.config_db.pubsub(ignore_subscribe_messages=True)
        pubsub.psubscribe(f"__keyspace@{self.config_db_id}__:PORT|*")
        self.reconcile_ports()
        next_counters = 0.0
        while True:
            changed = False
            message = pubsub.get_message(timeout=0.5)
            while message is not None:
                changed = True
                message = pubsub.get_message(timeout=0.01)
            if changed:
                self.reconcile_ports()
            links = self.read_links()
            if self.write_link_state(links) or changed:
                self.platform.links_changed(links, self.oids)
            if time.monotonic() >= next_counters:
                self.write_counters(links)
                self.write_lag_state(links)
                self.platform.write(links, self.oids)
                next_counters = time.monotonic() + 1.0

    def configured_ports(self) -> Dict[str, dict]:
        keys = list(self.config_db.scan_iter(match="PORT|*", count=1000))
        pipe = self.config_db.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return {k.split("|", 1)[1]: decode_fields(v) for k, v in zip(keys, pipe.execute())}

    def reconcile_ports(self) -> None:
        """Make the switch's port netdevs match CONFIG_DB PORT (like portmgrd on a switch)."""
        wanted = self.configured_ports()
        present = {link.get_attr("IFLA_IFNAME") for link in self.ipr.get_links()}
        cmds = []
        for port, fields in wanted.items():
            if port not in present:
                cmds += port_commands(self.layout, port, int(fields.get("mtu") or 9100),
                                      fields.get("admin_status") == "up")
                log.info("port added", extra={"port": port})
        for port in list(self.oids):
            if port not in wanted:
                if port in present:
                    cmds.append(f"-n {self.layout.switch_ns} link del {port}")
                self.forget(port)
                log.info("port removed", extra={"port": port})
        if cmds:
            try:
                ip_batch(cmds)
            except UserError as exc:  # a port removed meanwhile, by someone else: the next reconcile sees it
                log.warning("port change failed; retried at the next change", extra={"error": str(exc)})
        for i, port in enumerate(sorted(wanted, key=natural_key)):
            self.oids.setdefault(port, f"oid:0x{OID_BASE + i + 1:x}")
        self.counters_db.delete("COUNTERS_PORT_NAME_MAP")
        if self.oids:
            self.counters_db.hset("COUNTERS_PORT_NAME_MAP", mapping=self.oids)

    def forget(self, port: str) -> None:
        oid = self.oids.pop(port)
        self.appl_db.delete(f"PORT_TABLE:{port}")
        self.state_db.delete(f"PORT_TABLE|{port}")
        self.counters_db.delete(f"COUNTERS:{oid}", f"RATES:{oid}")
        self.link_state.pop(port, None)
        self.previous.pop(port, None)
        self.platform.forget(port)

    def read_links(self) -> Dict[str, dict]:
        links = {}
        for link in self.ipr.get_links():
            name = link.get_attr("IFLA_IFNAME")
            if name in self.oids:
                up = bool(link["flags"] & 1)
                carrier = link.get_attr("IFLA_CARRIER") == 1 and link.get_attr("IFLA_OPERSTATE") == "UP"
                links[name] = {"admin": "up" if up else "down", "oper": "up" if up and carrier else "down",
                               "mtu": link.get_attr("IFLA_MTU"), "stats": link.get_attr("IFLA_STATS64") or {}}
        return links

    def write_link_state(self, links: Dict[str, dict]) -> bool:
        """Writes the ports whose state changed; True if any did."""
        now = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime())
        changed = False
        pipe = self.appl_db.pipeline(transaction=False)
        state_pipe = self.state_db.pipeline(transaction=False)
        for port, link in links.items():
            previous = self.link_state.get(port)
            if previous == (link["oper"], link["admin"]):
                continue
            changed = True
            if previous is not None and previous[0] != link["oper"]:
                self.flaps[port] = self.flaps.get(port, 0) + 1
            self.link_state[port] = (link["oper"], link["admin"])
            appl = {"oper_status": link["oper"], "admin_status": link["admin"], "mtu": str(link["mtu"]),
                    "flap_count": str(self.flaps.get(port, 0)),
                    f"last_{link['oper']}_time": now}
            pipe.hset(f"PORT_TABLE:{port}", mapping=appl)
            state_pipe.hset(f"PORT_TABLE|{port}", mapping={
                "state": "ok", "netdev_oper_status": link["oper"], "admin_status": link["admin"],
                "mtu": str(link["mtu"])})
            log.info("link state", extra={"port": port, "oper": link["oper"], "admin": link["admin"]})
        pipe.execute()
        state_pipe.execute()
        return changed

    def write_counters(self, links: Dict[str, dict]) -> None:
        now = time.monotonic()
        pipe = self.counters_db.pipeline(transaction=False)
        for port, link in links.items():
            s = link["stats"]
            oid = self.oids[port]
            mcast = s.get("multicast", 0)
            counters = {sai: str(sum(s.get(f, 0) for f in fields)) for sai, fields in SAI_COUNTERS.items()}
            counters["SAI_PORT_STAT_IF_IN_UCAST_PKTS"] = str(max(s.get("rx_packets", 0) - mcast, 0))
            counters["SAI_PORT_STAT_IF_OUT_UCAST_PKTS"] = str(s.get("tx_packets", 0))
            pipe.hset(f"COUNTERS:{oid}", mapping=counters)
            sample = (now, s.get("rx_bytes", 0), s.get("tx_bytes", 0), s.get("rx_packets", 0), s.get("tx_packets", 0))
            before = self.previous.get(port)
            self.previous[port] = sample
            if before is not None and sample[0] > before[0]:
                dt = sample[0] - before[0]
                rx_bps, tx_bps, rx_pps, tx_pps = ((sample[i] - before[i]) / dt for i in range(1, 5))
                pipe.hset(f"RATES:{oid}", mapping={"RX_BPS": f"{rx_bps:.2f}", "TX_BPS": f"{tx_bps:.2f}",
                                                    "RX_PPS": f"{rx_pps:.2f}", "TX_PPS": f"{tx_pps:.2f}"})
        pipe.execute()

    def write_lag_state(self, links: Dict[str, dict]) -> None:
        lags: Dict[str, list] = {}
        for key in self.config_db.scan_iter(match="PORTCHANNEL_MEMBER|*", count=1000):
            _, lag, member = key.split("|", 2)
            lags.setdefault(lag, []).append(member)
        for key in self.config_db.scan_iter(match="PORTCHANNEL|*", count=1000):
            lags.setdefault(key.split("|", 1)[1], [])
        pipe = self.appl_db.pipeline(transaction=False)
        for lag, members in lags.items():
            up = [m for m in members if links.get(m, {}).get("oper") == "up"]
            if self.lag_state.get(lag) == (tuple(members), tuple(up)):
                continue  # written only on change, like every other state here
            self.lag_state[lag] = (tuple(members), tuple(up))
            pipe.hset(f"LAG_TABLE:{lag}", mapping={"oper_status": "up" if up else "down", "admin_status": "up"})
            for member in members:
                pipe.hset(f"LAG_MEMBER_TABLE:{lag}:{member}",
                          mapping={"status": "enabled" if member in up else "disabled"})
        pipe.execute()


def main(argv: Optional[list] = None) -> None:
    parser = argparse.ArgumentParser(prog="telegen-sonic-labd")
    parser.add_argument("--name", default="tg")
    args = parser.parse_args(argv)
    setup_logging("info", "json")
    daemon = StateDaemon(LabLayout(args.name))
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    daemon.run()


if __name__ == "__main__":
    main()
