"""The live SONiC model: every namespace's redis followed, joined into one typed switch.

Public API (`SwitchModel`):
- construct: `SwitchModel.from_config(cfg: SonicConfig)` or `SwitchModel.from_paths(database_config,
  database_global=None)`; then `start()` (one follower thread per namespace and redis instance:
  full sync, then keyspace notifications, reconnect with capped jittered backoff and resync;
  `config reload` is followed through CONFIG_DB_INITIALIZED),
  `wait_synced(timeout) -> bool`, `stop()`. One-shot readers (the `show` verb) call `sync()`.
- change events: `subscribe(callback) -> unsubscribe`; callback(changes) runs on a follower
  thread once per applied batch, with its list of Change(namespace, db, table, key, op), op
  set|del|resync (resync: the whole db was re-read, table and key empty).
- entities (sonic.entities), across namespaces unless one is given: `device(namespace)`,
  `ports()`, `portchannels()`, `vlans()`, `addresses()`, `bgp_neighbors()`, `mirror_sessions()`,
  `port_oids()` (COUNTERS_PORT_NAME_MAP), `namespaces`.
- lookups: `port(name_or_alias)`, `port_by_index(i)`, `port_by_ifindex(i)`, `ifindex(netdev)`,
  `portchannel_of(port)`, `vlans_of(port)`, `addresses_of(interface)`, `resolve_ip(ip) -> IpOwner`,
  `mirror_session_for_stream(outer_src, outer_dst, gre_proto)`, `span_session_for(dst_port)`.
- neutral records (sonic_agent.records): `device_info()`, `port_states()` (ports, PortChannels,
  VLANs), `lag_states()` and `vlan_states()` (with their members), `read_counters(catalogue)`
  (COUNTERS_DB port and queue counters read at call time, one round trip per namespace, for
  the ports CONFIG_DB has: a deleted port's COUNTERS_DB entries are not reported).
- health: `connection_states()` (per namespace and instance: connected, reconnects, last error),
  `updates_applied()`.
Reads never block on redis, except the counters, which read COUNTERS_DB when called.
"""
from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import redis

from ..catalogue import Catalogue
from ..catalogue.switch import PORT_COUNTERS, QUEUE
from ..config import FamilyConfig, SonicConfig
from ..errors import UserError
from ..records import BgpPeer, DeviceInfo, LagState, PortCounters, PortState, QueueCounters, Row, VlanState
from .counters import read_counters
from .dbconfig import DatabaseConfig, load_namespaces
from .families import FamilyReader
from .entities import BgpNeighbor, DeviceMetadata, InterfaceAddress, MirrorSession, Port, PortChannel, Vlan
from ..subscribers import Subscribers
from .follower import REDIS_ERRORS, Change, ConnectionState, Follower, connect
from .netdevs import NetdevIndex
from .store import NamespaceStore
from .tables import FOLLOWED
from .to_records import lag_states, port_states, sonic_version, vlan_states
from .view import NamespaceView, normalize_ip

log = logging.getLogger(__name__)
Subscriber = Callable[[List[Change]], None]
READ_ERRORS = (redis.RedisError, OSError)  # a tick's read: lost connection, timeout, refused command


@dataclass(frozen=True)
class IpOwner:
    """Who an IP address is: one of the switch's own (kind local), a BGP neighbor, or a host on a
    connected subnet; `interface` is the local interface it is on or reached through."""

    kind: str  # local | bgp_neighbor | connected
    name: str  # the interface (local, connected) or the BGP neighbor's name
    interface: str
    namespace: str


class SwitchModel:
    def __init__(self, namespaces: Sequence[DatabaseConfig], reconnect_max_s: float = 30.0):
        self._configs = {c.namespace: c for c in namespaces}
        self._stop = threading.Event()
        self._subscribers: Subscribers[List[Change]] = Subscribers(log, "sonic model")
        self._netdevs = NetdevIndex()
        self._stores: Dict[str, NamespaceStore] = {}
        self._followers: List[Follower] = []
        for config in namespaces:
            config.db("CONFIG_DB")  # required: a UserError naming the file otherwise
            dbs = [config.databases[name] for name in FOLLOWED if name in config.databases]
            store = NamespaceStore(config.namespace, {db.name: db.separator for db in dbs})
            self._stores[config.namespace] = store
            for instance in dict.fromkeys(db.instance.name for db in dbs):
                on_instance = [db for db in dbs if db.instance.name == instance]
                self._followers.append(Follower(config, instance, on_instance, store, self._subscribers.tell,
                                                reconnect_max_s, self._stop))
        self._clients: Dict[Tuple[str, str], redis.Redis] = {}
        self._family_readers: Dict[str, FamilyReader] = {}
        self.counter_reads = {"counters_db_reads_total": 0, "counters_db_read_errors_total": 0,
                              "families_read_errors_total": 0}

    @classmethod
    def from_config(cls, cfg: SonicConfig) -> "SwitchModel":
        return cls(load_namespaces(cfg.database_config, cfg.database_global), cfg.reconnect_max_s)

    @classmethod
    def from_paths(cls, database_config: str, database_global: Optional[str] = None) -> "SwitchModel":
        return cls(load_namespaces(database_config, database_global))

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        for follower in self._followers:
            follower.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for follower in self._followers:
            if follower.is_alive():
                follower.join(timeout)
        for client in self._clients.values():
            client.close()

    def wait_synced(self, timeout: Optional[float] = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        for follower in self._followers:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not follower.synced.wait(remaining):
                return False
        return True

    def sync(self) -> None:
        """Read everything once, without threads; an unreachable redis is a UserError."""
        for follower in self._followers:
            try:
                follower.sync_once()
            except REDIS_ERRORS as exc:
                where = next(db.instance.where() for db in self._configs[follower.namespace].databases.values()
                             if db.instance.name == follower.instance)
                raise UserError(f"sonic: namespace '{follower.namespace or 'host'}' redis "
                                f"'{follower.instance}' at {where} unreachable ({exc})") from None

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        return self._subscribers.subscribe(callback)

    def connection_states(self) -> List[ConnectionState]:
        return [f.state for f in self._followers]

    def updates_applied(self) -> int:
        return sum(f.applied for f in self._followers)

    # --- entities --------------------------------------------------------------------------
    @property
    def namespaces(self) -> List[str]:
        return list(self._stores)

    def _views(self, namespace: Optional[str] = None) -> List[NamespaceView]:
        if namespace is not None:
            store = self._stores.get(namespace)
            return [store.view()] if store else []
        return [store.view() for store in self._stores.values()]

    def device(self, namespace: str = "") -> DeviceMetadata:
        views = self._views(namespace) or self._views()
        return views[0].device

    def ports(self, namespace: Optional[str] = None) -> List[Port]:
        return [p for v in self._views(namespace) for p in v.ports.values()]

    def portchannels(self, namespace: Optional[str] = None) -> List[PortChannel]:
        return [p for v in self._views(namespace) for p in v.portchannels.values()]

    def vlans(self, namespace: Optional[str] = None) -> List[Vlan]:
        return [p for v in self._views(namespace) for p in v.vlans.values()]

    def addresses(self, namespace: Optional[str] = None) -> List[InterfaceAddress]:
        return [a for v in self._views(namespace) for a in v.addresses]

    def bgp_neighbors(self, namespace: Optional[str] = None) -> List[BgpNeighbor]:
        return [n for v in self._views(namespace) for n in v.bgp_neighbors.values()]

    def mirror_sessions(self, namespace: Optional[str] = None) -> List[MirrorSession]:
        return [s for v in self._views(namespace) for s in v.mirror_sessions.values()]

    def port_oids(self, namespace: Optional[str] = None) -> Dict[str, str]:
        return {name: oid for v in self._views(namespace) for name, oid in v.port_oids.items()}

    # --- lookups ---------------------------------------------------------------------------
    def _first(self, pick, namespace: Optional[str]):
        for view in self._views(namespace):
            found = pick(view)
            if found:
                return found
        return None

    def port(self, name: str, namespace: Optional[str] = None) -> Optional[Port]:
        """By name (EthernetN) or alias (etp1, Ethernet1/1)."""
        return self._first(lambda v: v.port(name), namespace)

    def port_by_index(self, index: int, namespace: Optional[str] = None) -> Optional[Port]:
        return self._first(lambda v: v.by_index.get(index), namespace)

    def ifindex(self, netdev: str) -> Optional[int]:
        return self._netdevs.ifindex(netdev)

    def port_by_ifindex(self, ifindex: int) -> Optional[Port]:
        name = self._netdevs.name(ifindex)
        return self._first(lambda v: v.ports.get(name), None) if name else None

    def portchannel_of(self, port: str, namespace: Optional[str] = None) -> Optional[PortChannel]:
        return self._first(lambda v: v.portchannels.get(v.lag_of.get(port, "")), namespace)

    def vlans_of(self, port: str, namespace: Optional[str] = None) -> List[Vlan]:
        return [vlan for v in self._views(namespace) for vlan in v.vlans_of.get(port, ())]

    def addresses_of(self, interface: str, namespace: Optional[str] = None) -> List[InterfaceAddress]:
        return [a for v in self._views(namespace) for a in v.addresses_of.get(interface, ())]

    def resolve_ip(self, ip: str) -> Optional[IpOwner]:
        """The switch's own address first, then a BGP neighbor, then a connected subnet."""
        text = normalize_ip(ip)
        if text is None:
            return None
        views = self._views()
        for view in views:
            local = view.local_ips.get(text)
            if local:
                return IpOwner("local", local.interface, local.interface, view.namespace)
        address = ipaddress.ip_address(text)
        for view in views:
            neighbor = view.bgp_neighbors.get(text)
            if neighbor:
                via = view.connected(address)
                return IpOwner("bgp_neighbor", neighbor.name, via.interface if via else "", view.namespace)
        for view in views:
            via = view.connected(address)
            if via:
                return IpOwner("connected", via.interface, via.interface, view.namespace)
        return None

    def mirror_session_for_stream(self, outer_src: str, outer_dst: str,
                                  gre_proto: Optional[int] = None) -> Optional[MirrorSession]:
        """The ERSPAN MIRROR_SESSION sending (outer src, outer dst, GRE protocol); its
        src_ports and direction say what is mirrored. gre_proto None matches any."""
        src, dst = normalize_ip(outer_src), normalize_ip(outer_dst)
        if src is None or dst is None:
            return None
        return self._first(lambda v: v.stream_session(src, dst, gre_proto), None)

    def span_session_for(self, dst_port: str) -> Optional[MirrorSession]:
        return self._first(lambda v: v.span_by_dst.get(dst_port), None)

    # --- neutral records -------------------------------------------------------------------
    def device_info(self) -> DeviceInfo:
        device = self.device("")
        return DeviceInfo(device.hostname, device.hwsku, device.platform, device.mac, device.asn, sonic_version())

    def port_states(self) -> List[PortState]:
        ifindexes = self._netdevs.snapshot()
        return [state for view in self._views() for state in port_states(view, ifindexes)]

    def lag_states(self) -> List[LagState]:
        return [lag for view in self._views() for lag in lag_states(view)]

    def vlan_states(self) -> List[VlanState]:
        return [vlan for view in self._views() for vlan in vlan_states(view)]

    def bgp_peers(self) -> List[BgpPeer]:
        """Configured neighbors, each with the interface whose subnet holds its address (or its local_addr)."""
        out = []
        for view in self._views():
            for n in view.bgp_neighbors.values():
                local = view.local_ips.get(normalize_ip(n.local_addr) or "")
                try:
                    via = view.connected(ipaddress.ip_address(normalize_ip(n.address) or ""))
                except ValueError:
                    via = None
                interface = via.interface if via else (local.interface if local else "")
                out.append(BgpPeer(n.address, n.vrf, n.name, n.asn, n.namespace, interface))
        return out

    def _client(self, namespace: str, db: str) -> redis.Redis:
        """One client per namespace and database for the reads at each tick (the followers have
        their own)."""
        client = self._clients.get((namespace, db))
        if client is None:
            client = self._clients[(namespace, db)] = connect(self._configs[namespace], db)
        return client

    def read_families(self, catalogue: Catalogue, settings: Mapping[str, FamilyConfig]) -> Dict[str, List[Row]]:
        """The catalogue's SONiC tables, each family at its refresh interval (sonic.families), of
        every namespace, plus the readers' own rows (unparsed fields, skipped keys, cuts). A
        namespace whose redis fails keeps its last rows (counted, retried at the next tick)."""
        out: Dict[str, List[Row]] = {}
        health: Dict[str, List[Row]] = {"unparsed": [], "table_health": []}
        for view in self._views():
            config = self._configs[view.namespace]
            reader = self._family_readers.get(view.namespace)
            if reader is None:
                reader = self._family_readers[view.namespace] = FamilyReader(catalogue, settings)

            def client(db: str, ns=view.namespace, config=config):
                return self._client(ns, db), config.db(db).separator
            try:
                rows = reader.read(client, view.namespace, view.counter_maps)
            except READ_ERRORS as exc:
                self.counter_reads["families_read_errors_total"] += 1
                log.debug("SONiC tables unreadable", extra={"namespace": view.namespace, "error": str(exc)})
                rows = reader.rows
            for name, entity_rows in rows.items():
                out.setdefault(name, []).extend(entity_rows)
            for name, entity_rows in reader.counters(view.namespace).items():
                health[name].extend(entity_rows)
        out.update(health)
        return out

    def read_counters(self, catalogue: Catalogue) -> Tuple[List[PortCounters], List[QueueCounters]]:
        """COUNTERS_DB port and queue counters (the catalogue's fields) of every port CONFIG_DB
        has (COUNTERS_DB outlives a deleted port): one round trip per namespace. A namespace
        whose redis is unreachable is left out (connection_states() says so) and counted."""
        port_metrics = [m for m in catalogue.of_entity(PORT_COUNTERS) if m.source.where == "COUNTERS_DB"]
        queue_metrics = [m for m in catalogue.of_entity(QUEUE) if m.source.where == "COUNTERS_DB"
                         and m.source.table == "COUNTERS"]
        ports: List[PortCounters] = []
        queues: List[QueueCounters] = []
        for view in self._views():
            config = self._configs[view.namespace]
            if "COUNTERS_DB" not in config.databases:
                continue
            try:
                p, q = read_counters(self._client(view.namespace, "COUNTERS_DB"), view.counter_maps,
                                     config.db("COUNTERS_DB").separator, port_metrics, queue_metrics, view.namespace)
            except READ_ERRORS as exc:
                self.counter_reads["counters_db_read_errors_total"] += 1
                log.debug("COUNTERS_DB unreadable", extra={"namespace": view.namespace, "error": str(exc)})
                continue
            self.counter_reads["counters_db_reads_total"] += 1
            ports += p
            queues += q
        return ports, queues
