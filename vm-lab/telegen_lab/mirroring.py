"""The lab's ASIC mirror: orchagent's MIRROR_SESSION and EVERFLOW ACLs, applied to real frames.

A thread of the state daemon (in the switch namespace) follows CONFIG_DB `MIRROR_SESSION`,
`ACL_TABLE` (types MIRROR, MIRRORV6, MIRROR_DSCP) and `ACL_RULE` through keyspace events
(a change applies within a few hundred milliseconds, as orchagent's would), and for every
port a session or a mirror ACL table binds (a PortChannel: its members) opens an AF_PACKET
socket on the switch side, which sees each frame crossing the port: received (ingress, rx)
or sent (egress, tx). A frame is copied when the session's `direction` covers its direction
(port mirror), or when the highest-priority ACL rule of a table bound at that stage matches it
and names a session (MIRROR_INGRESS_ACTION, MIRROR_EGRESS_ACTION, MIRROR_ACTION);
`sample_rate` N keeps one copy in N per session, `truncate_size` cuts the copy. ERSPAN
copies (telegen_lab.mirror_frames) go from the neighbor side of eth0 to the switch's eth0,
where the agent's collector listens; SPAN copies leave the session's dst_port. STATE_DB
`MIRROR_SESSION_TABLE|<name>` says `active` while its ports exist (and its dst_ip is IPv4).
So every mirrored frame in the lab is a frame that crossed a port.
"""
from __future__ import annotations

import ipaddress
import logging
import select
import socket
import threading
import time
import zlib
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from pyroute2 import IPRoute, NetNS
from pyroute2.netns import setns
from sonic_agent.sonic.encoding import decode_fields, glob_escape
from sonic_agent.sonic.follower import backoff_delay

from .mirror_frames import GRE_ERSPAN2, encapsulate, ipv4_header, parse, rule_matches
from .topology import MGMT_PORT, LabLayout

log = logging.getLogger("telegen.lab.mirror")
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
MIRROR_ACL_TYPES = ("MIRROR", "MIRRORV6", "MIRROR_DSCP")
ACTIONS = {"MIRROR_INGRESS_ACTION": "ingress", "MIRROR_EGRESS_ACTION": "egress", "MIRROR_ACTION": "ingress"}
SESSION_DIRECTIONS = {"RX": ("rx",), "TX": ("tx",), "BOTH": ("rx", "tx")}
STAGE_DIRECTIONS = {"ingress": "rx", "egress": "tx"}
FRAMES_PER_WAKEUP = 256  # per socket, before the others get their turn
STATUS_EVERY_S = 1.0
RETRY_MAX_S = 2.0  # the longest wait between tries to follow CONFIG_DB again
POLL_S = 0.1  # how long a wait for frames lasts before CONFIG_DB's changes are looked at


@dataclass
class Session:
    name: str
    fields: Dict[str, object]
    session_id: int  # what the lab's ASIC puts in the ERSPAN header (stable per name)
    seq: int = 0
    sampled: int = 0

    @property
    def type(self) -> str:
        return str(self.fields.get("type", "ERSPAN")).upper()

    def number(self, key: str, default: int) -> int:
        try:
            return int(str(self.fields.get(key, default)), 0)
        except ValueError:
            return default


@dataclass
class Binding:
    """What to copy from one port: a session's port mirror, or an ACL table's rules."""

    directions: Tuple[str, ...]
    session: Optional[str] = None  # port mirror
    rules: List[Tuple[int, Dict[str, str], Optional[str]]] = field(default_factory=list)  # (priority, match, session)

    def target(self, frame: bytes) -> Optional[str]:
        if self.session is not None:
            return self.session
        packet = parse(frame)
        for _, match, session in self.rules:  # highest priority first
            if rule_matches(match, packet):
                return session
        return None


def netns_socket(netns: str, ifname: str) -> socket.socket:
    """An AF_PACKET socket bound to a device of another namespace (made in a thread that enters it)."""
    made: Dict[str, object] = {}

    def make() -> None:
        try:
            setns(netns, flags=0)
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
            sock.bind((ifname, 0))
            made["socket"] = sock
        except OSError as exc:
            made["error"] = exc
    thread = threading.Thread(target=make)
    thread.start()
    thread.join()
    if "error" in made:
        raise made["error"]
    return made["socket"]


class MirrorEmulator:
    def __init__(self, layout: LabLayout, config_db, state_db, config_db_id: int):
        self.layout, self.config_db, self.state_db = layout, config_db, state_db
        self.pubsub = config_db.pubsub(ignore_subscribe_messages=True)
        self.pubsub.psubscribe(*(f"__keyspace@{config_db_id}__:{glob_escape(t)}|*" for t in (
            "MIRROR_SESSION", "ACL_TABLE", "ACL_RULE", "PORT", "PORTCHANNEL_MEMBER")))
        self.sessions: Dict[str, Session] = {}
        self.bindings: Dict[str, List[Binding]] = {}
        self.indexes: Dict[str, int] = {}
        self.captures: Dict[str, socket.socket] = {}
        self.span_senders: Dict[str, socket.socket] = {}
        with IPRoute() as ipr:
            self.switch_mac = ipr.get_links(ifname=MGMT_PORT)[0].get_attr("IFLA_ADDRESS")
        with NetNS(layout.neighbor_ns) as nbr:
            self.neighbor_mac = nbr.get_links(ifname=MGMT_PORT)[0].get_attr("IFLA_ADDRESS")
        self.erspan_sender = netns_socket(layout.neighbor_ns, MGMT_PORT)
        self.outer_l2 = bytes.fromhex(self.switch_mac.replace(":", "") + self.neighbor_mac.replace(":", "")) + b"\x08\x00"
        self._thread = threading.Thread(target=self._run, name="lab-mirror", daemon=True)

    def start(self) -> "MirrorEmulator":
        """Follows CONFIG_DB from a thread of its own until the state daemon exits."""
        self.reconcile()
        self._thread.start()
        return self

    # --- following CONFIG_DB ------------------------------------------------------------------
    def _table(self, name: str) -> Dict[str, Dict[str, object]]:
        keys = list(self.config_db.scan_iter(match=glob_escape(name + "|") + "*", count=1000))
        pipe = self.config_db.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        return {key.split("|", 1)[1]: decode_fields(raw) for key, raw in zip(keys, pipe.execute())}

    def reconcile(self) -> None:
        """Sessions, bindings and capture sockets as CONFIG_DB says now; STATE_DB status."""
        config = {name: self._table(name) for name in ("MIRROR_SESSION", "ACL_TABLE", "ACL_RULE", "PORT",
                                                          "PORTCHANNEL_MEMBER")}
        self.indexes = {p: int(str(f.get("index", 0)) or 0) for p, f in config["PORT"].items()}
        members: Dict[str, List[str]] = {}
        for key in config["PORTCHANNEL_MEMBER"]:
            lag, _, member = key.partition("|")
            members.setdefault(lag, []).append(member)
        sessions = {}
        for name, fields in config["MIRROR_SESSION"].items():
            old = self.sessions.get(name)
            sessions[name] = old if old is not None and old.fields == fields else Session(
                name, fields, zlib.crc32(name.encode()) % 1023 + 1)
        self.sessions = sessions
        bindings: Dict[str, List[Binding]] = {}
        for name, s in sessions.items():
            for port in _ports(s.fields.get("src_port"), members):
                bindings.setdefault(port, []).append(
                    Binding(SESSION_DIRECTIONS.get(str(s.fields.get("direction", "BOTH")).upper(), ("rx", "tx")), name))
        for table, fields in config["ACL_TABLE"].items():
            if str(fields.get("type", "")).upper() not in MIRROR_ACL_TYPES:
                continue
            stage = str(fields.get("stage", "ingress")).lower()
            rules = sorted(((int(str(r.get("PRIORITY", 0)) or 0), _match(r), _action(r, stage))
                            for key, r in config["ACL_RULE"].items() if key.partition("|")[0] == table),
                           key=lambda rule: -rule[0])
            for port in _ports(fields.get("ports"), members):
                bindings.setdefault(port, []).append(Binding((STAGE_DIRECTIONS.get(stage, "rx"),), rules=rules))
        self.bindings = {port: b for port, b in bindings.items() if port in self.indexes}
        self._sync_sockets()
        self.write_status(config["PORT"], members)

    def _sync_sockets(self) -> None:
        for port in list(self.captures):
            if port not in self.bindings:
                self.captures.pop(port).close()
        for port in self.bindings:
            if port not in self.captures:
                try:
                    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                    sock.bind((port, ETH_P_ALL))
                    sock.setblocking(False)
                except OSError as exc:  # the netdev is not there (yet): retried at the next change
                    log.warning("cannot capture on a mirrored port", extra={"port": port, "error": str(exc)})
                    continue
                self.captures[port] = sock
        spans = {str(s.fields.get("dst_port")) for s in self.sessions.values() if s.type == "SPAN"}
        for port in list(self.span_senders):
            if port not in spans:
                self.span_senders.pop(port).close()
        for port in spans - set(self.span_senders):
            try:
                self.span_senders[port] = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
                self.span_senders[port].bind((port, 0))
            except OSError as exc:
                log.warning("cannot send on a SPAN dst_port", extra={"port": port, "error": str(exc)})
                self.span_senders.pop(port, None)

    def write_status(self, ports: Dict[str, dict], members: Dict[str, List[str]]) -> None:
        pipe = self.state_db.pipeline(transaction=False)
        for name, s in self.sessions.items():
            wanted = _ports(s.fields.get("src_port"), members)
            if s.type == "SPAN":
                active = str(s.fields.get("dst_port")) in self.span_senders and all(p in self.captures for p in wanted)
                status = {"status": "active" if active else "inactive", "monitor_port": str(s.fields.get("dst_port"))}
            else:
                v4 = _is_ipv4(s.fields.get("dst_ip")) and _is_ipv4(s.fields.get("src_ip"))
                active = v4 and all(p in self.captures for p in wanted)
                status = {"status": "active" if active else "inactive", "monitor_port": MGMT_PORT,
                          "dst_mac": self.switch_mac}
            pipe.hset(f"MIRROR_SESSION_TABLE|{name}", mapping=status)
        for key in self.state_db.scan_iter(match="MIRROR_SESSION_TABLE|*", count=1000):
            if key.split("|", 1)[1] not in self.sessions:
                pipe.delete(key)
        pipe.execute()

    # --- moving frames ------------------------------------------------------------------------
    def _run(self) -> None:
        """Frames keep moving while redis is away; CONFIG_DB is followed again once it is back
        (the pubsub subscribes again on its reconnect), tried with backoff meanwhile."""
        next_status, failures = 0.0, 0
        while True:
            now = time.monotonic()
            if now >= next_status or failures == 0:
                try:
                    changed = False
                    while self.pubsub.get_message(timeout=0) is not None:
                        changed = True
                    if changed or now >= next_status:
                        self.reconcile()
                        next_status = now + STATUS_EVERY_S
                    failures = 0
                except Exception as exc:  # noqa: BLE001 (redis restarting, the lab going down, a table unread)
                    failures += 1
                    error = f"{type(exc).__name__}: {exc}"[:200]
                    (log.warning if failures == 1 else log.debug)("mirror: cannot follow CONFIG_DB; retrying",
                                                                   extra={"error": error})
                    next_status = now + backoff_delay(failures, RETRY_MAX_S)
            sockets = list(self.captures.values())
            ready = select.select(sockets, [], [], POLL_S)[0] if sockets else time.sleep(POLL_S) or []
            ports = {sock: port for port, sock in self.captures.items()}
            for sock in ready:
                self._drain(ports[sock], sock)

    def _drain(self, port: str, sock: socket.socket) -> None:
        for _ in range(FRAMES_PER_WAKEUP):
            try:
                frame, address = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the port went away: the next reconcile closes the socket
            direction = "tx" if address[2] == PACKET_OUTGOING else "rx"
            for binding in self.bindings.get(port, ()):
                if direction in binding.directions:
                    name = binding.target(frame)
                    session = self.sessions.get(name) if name else None
                    if session is not None:
                        self._copy(session, frame, port, direction)

    def _copy(self, s: Session, frame: bytes, port: str, direction: str) -> None:
        rate = s.number("sample_rate", 1)
        s.sampled += 1
        if rate > 1 and s.sampled % rate:
            return
        cut = s.number("truncate_size", 0)
        inner = frame[:cut] if cut and len(frame) > cut else frame
        if s.type == "SPAN":
            sender = self.span_senders.get(str(s.fields.get("dst_port")))
            if sender is not None:
                sender.send(inner)
            return
        if not (_is_ipv4(s.fields.get("dst_ip")) and _is_ipv4(s.fields.get("src_ip"))):
            return
        s.seq += 1
        payload = encapsulate(inner, s.number("gre_type", GRE_ERSPAN2), s.seq, s.session_id,
                              self.indexes.get(port, 0), direction == "tx", inner is not frame)
        outer = ipv4_header(str(s.fields["src_ip"]), str(s.fields["dst_ip"]), s.number("dscp", 8),
                            s.number("ttl", 255), len(payload), s.seq)
        try:
            self.erspan_sender.send(self.outer_l2 + outer + payload)
        except OSError as exc:
            log.debug("mirror copy not sent", extra={"session": s.name, "error": str(exc)})


def _ports(value: object, members: Dict[str, List[str]]) -> List[str]:
    """A src_port / ports@ value as netdevs: PortChannels stand for their members."""
    names = value if isinstance(value, list) else [p for p in str(value or "").split(",") if p]
    return [m for name in names for m in (members.get(name) or [name])]


def _match(rule: Dict[str, object]) -> Dict[str, str]:
    skip = {"PRIORITY", "PACKET_ACTION", *ACTIONS}
    return {k: str(v) for k, v in rule.items() if k not in skip}


def _action(rule: Dict[str, object], stage: str) -> Optional[str]:
    for field_name, field_stage in ACTIONS.items():
        if field_name in rule and field_stage == stage:
            return str(rule[field_name])
    return None


def _is_ipv4(value: object) -> bool:
    try:
        return ipaddress.ip_address(str(value)).version == 4
    except ValueError:
        return False
