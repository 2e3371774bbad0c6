"""ProbeManager: one loaded probe object, attached to the devices the SONiC model names.

- `sync(ifnames)` attaches XDP (ingress) and TC clsact egress to each named netdev and
  detaches the rest. Upper devices (PortChannel, VLAN bridge) count ingress with TC: XDP on
  them would make the kernel refuse XDP on their members. XDP goes through the agent's one
  attach rule (`bpf.xdp.attach_xdp`): a device already carrying someone else's XDP program
  keeps it, and the probe counts its ingress with a TC ingress filter instead (logged and
  counted).
- Maps are pinned under `probes.pin_dir`, so a restarted agent keeps counting where the last
  one stopped. Programs found on devices at start whose names carry our prefix are a killed
  predecessor's: they are replaced in place (no counting gap) or detached, never stacked.
- `read(talkers_per_port)` reads every map once into a ProbeReading, health included.
- `close()` (on SIGTERM/SIGINT) detaches everything; pinned counters stay for the next start.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Set

from pyroute2 import IPRoute

from ..bpf import BpfError, BpfObject, Index, Link, kernel_enum, object_path
from ..bpf import netattach as na
from ..bpf.objects import BPF_NOEXIST
from ..bpf.xdp import attach_xdp
from ..config import ProbesConfig
from ..errors import UserError
from ..records import ProbeReading
from . import kernel as k
from . import leftovers, pins
from .reader import ProbeMaps, drop_reasons

log = logging.getLogger("telegen.probes")
DIRECTIONS = (0, 1)  # enum probe_dir: PROBE_RX, PROBE_TX


@dataclass
class Attachment:
    ifindex: int
    ingress: str  # "xdp" | "tc"
    xdp_mode: int = 0  # netattach XDP_FLAGS_*_MODE of our XDP program


def upper_devices() -> Set[int]:
    """ifindexes of the devices that are another device's master (team, bond, bridge)."""
    with IPRoute() as ipr:
        return {link.get_attr("IFLA_MASTER") for link in ipr.get_links() if link.get_attr("IFLA_MASTER")}


class ProbeManager:
    def __init__(self, cfg: ProbesConfig, obj_path: Optional[str] = None):
        if len(cfg.grpc_ports) > k.GRPC_PORTS_MAX:
            raise UserError(f"config: probes.grpc_ports: at most {k.GRPC_PORTS_MAX} ports")
        self.cfg = cfg
        self.stats = {"xdp_fallbacks": 0, "attach_errors": 0, "ports_full": 0, "recovered_programs": 0,
                      "counter_resets": 0}
        self.drops_available, self.drops_status = False, ""
        self._lock = threading.Lock()
        self.ports: Dict[str, Attachment] = {}
        self._obj = self._load(str(obj_path or object_path(k.OBJECT)))
        self.maps = ProbeMaps({name: self._obj.map(name) for name in k.PINNED_MAPS})
        self._fds = {name: self._obj.program(name).fd for name in (k.PROG_XDP, k.PROG_TC_EGRESS, k.PROG_TC_INGRESS)}
        self._write_settings()
        self._drop_link: Optional[Link] = self._attach_drops()
        self._reasons = drop_reasons(kernel_enum("skb_drop_reason")) if self._drop_link else {}
        # Our programs left on devices by a killed predecessor: taken over or removed by the first sync.
        self._leftovers: Optional[Dict[int, Dict[str, int]]] = leftovers.find()
        self.stats["recovered_programs"] += sum(len(p) for p in self._leftovers.values())

    # --- loading -------------------------------------------------------------------------
    def _load(self, path: str) -> BpfObject:
        """Load reusing the pinned maps; without the drop program if the kernel refuses it;
        with fresh maps (counters restart, logged) if the pins no longer fit this object."""
        pin_dir = pins.prepare(self.cfg.pin_dir, k.PINNED_MAPS)  # on bpffs, ours alone, or a UserError
        opts = dict(pin_dir=str(pin_dir), pin=k.PINNED_MAPS, max_entries={k.MAP_TALKERS: self.cfg.top_talkers})
        first_error = None
        for fresh in (False, True):
            if fresh:
                log.warning("pinned probe maps do not fit this object: counters restart",
                            extra={"pin_dir": str(pin_dir), "error": str(first_error)})
                self.stats["counter_resets"] += 1
                for name in k.PINNED_MAPS:
                    (pin_dir / name).unlink(missing_ok=True)
            for skip in ((), (k.PROG_DROPS,)):
                try:
                    obj = BpfObject(path, skip=skip, **opts)
                except BpfError as exc:
                    first_error = first_error or exc
                    continue
                if skip:
                    self.drops_status = f"unavailable: tp_btf/kfree_skb did not load ({first_error})"
                return obj
        raise first_error

    def _attach_drops(self) -> Optional[Link]:
        if not self.drops_status:
            try:
                link = self._obj.program(k.PROG_DROPS).attach()
                self.drops_available, self.drops_status = True, "tp_btf/kfree_skb"
                log.info("kernel drop visibility: tp_btf/kfree_skb with drop reasons")
                return link
            except BpfError as exc:
                self.drops_status = f"unavailable: tp_btf/kfree_skb did not attach ({exc})"
        log.warning("kernel drop visibility %s", self.drops_status)
        return None

    def _write_settings(self) -> None:
        s = k.ProbeSettings(talker_sample=self.cfg.top_talker_sample,
                            netns_ino=os.stat("/proc/self/ns/net").st_ino & 0xFFFFFFFF)
        for i, port in enumerate(self.cfg.grpc_ports):
            s.grpc_ports[i] = port
        self.maps.maps[k.MAP_SETTINGS].update(Index(0), bytes(s))

    # --- attachment ----------------------------------------------------------------------
    def sync(self, ifnames: Iterable[str]) -> None:
        """Attach to every named netdev that exists, detach from every other; idempotent and
        cheap, so call it on each model change (and periodically for late netdevs)."""
        if self._obj is None:
            return
        wanted: Dict[str, int] = {}
        for name in ifnames:
            try:
                wanted[name] = socket.if_nametoindex(name)
            except OSError:
                log.debug("no netdev yet", extra={"port": name})
        uppers = upper_devices()
        with self._lock:
            for name, att in list(self.ports.items()):
                if wanted.get(name) != att.ifindex:
                    self._detach(name)
                elif att.ingress == "xdp" and att.ifindex in uppers:  # it gained lower devices
                    self._detach(name, forget=False)
            for ifindex in uppers & set(self._leftovers or {}):
                # XDP on an upper device makes the kernel refuse XDP on its lowers: off first.
                old_xdp = self._leftovers[ifindex].pop("xdp", None)
                if old_xdp:
                    leftovers.remove(ifindex, {"xdp": old_xdp})
            for name, ifindex in wanted.items():
                if name not in self.ports:
                    try:
                        self._attach(name, ifindex, upper=ifindex in uppers)
                    except BpfError as exc:
                        self.stats["attach_errors"] += 1
                        log.error("probe attach failed", extra={"port": name, "error": str(exc)})
            if self._leftovers is not None:  # first sync: the previous instance's state
                for ifindex, progs in self._leftovers.items():
                    leftovers.remove(ifindex, progs)
                self._leftovers = None
                self._forget_except({a.ifindex for a in self.ports.values()})

    def _attach(self, name: str, ifindex: int, upper: bool = False) -> None:
        old = (self._leftovers or {}).pop(ifindex, {})
        ports_map = self.maps.maps[k.MAP_PORTS]
        try:
            for d in DIRECTIONS:  # kept when the pinned map already has them: counting continues
                ports_map.update(k.PortKey(ifindex, d), ports_map.zero_value(), BPF_NOEXIST)
        except BpfError as exc:
            if exc.errno != errno.E2BIG:
                raise
            self.stats["ports_full"] += 1
            log.error("probe port table full", extra={"port": name, "max_entries": ports_map.info.max_entries})
            return
        na.tc_attach(ifindex, na.TC_EGRESS, self._fds[k.PROG_TC_EGRESS], k.TC_HANDLE, k.TC_PRIORITY,
                     replace="tc_eg" in old)
        try:
            att = self._attach_ingress(name, ifindex, old, upper)
        except BpfError:
            na.tc_detach(ifindex, na.TC_EGRESS, k.TC_HANDLE, k.TC_PRIORITY)
            raise
        self.ports[name] = att
        log.info("probes attached", extra={"port": name, "ingress": att.ingress,
                                           "xdp_mode": na.MODE_NAMES.get(att.xdp_mode, "")})

    def _attach_ingress(self, name: str, ifindex: int, old: Dict[str, int], upper: bool) -> Attachment:
        """XDP, except on an upper device (PortChannel, VLAN bridge): XDP there would make the
        kernel refuse XDP on every member ("an upper device already has a program"), so its
        ingress is counted with TC by design; and except where a foreign program sits."""
        if not upper:
            try:
                xdp = attach_xdp(ifindex, self._fds[k.PROG_XDP], k.PROG_PREFIX)
            except BpfError as exc:
                self.stats["xdp_fallbacks"] += 1
                log.warning("XDP not usable on port, counting ingress with TC instead",
                            extra={"port": name, "reason": str(exc)})
            else:
                if "tc_in" in old:  # a predecessor fell back to TC here: one ingress counter only
                    na.tc_detach(ifindex, na.TC_INGRESS, k.TC_HANDLE, k.TC_PRIORITY)
                return Attachment(ifindex, "xdp", xdp.mode)
        na.tc_attach(ifindex, na.TC_INGRESS, self._fds[k.PROG_TC_INGRESS], k.TC_HANDLE, k.TC_PRIORITY,
                     replace="tc_in" in old)
        return Attachment(ifindex, "tc")

    def _detach(self, name: str, forget: bool = True) -> None:
        """Take the programs off a device; `forget` (the port left the model) also drops its
        counters, since its ifindex may come back as another device."""
        att = self.ports.pop(name)
        try:
            if att.ingress == "xdp":
                na.xdp_detach(att.ifindex, self._fds[k.PROG_XDP], att.xdp_mode)
            else:
                na.tc_detach(att.ifindex, na.TC_INGRESS, k.TC_HANDLE, k.TC_PRIORITY)
            na.tc_detach(att.ifindex, na.TC_EGRESS, k.TC_HANDLE, k.TC_PRIORITY)
        except BpfError as exc:
            log.error("probe detach failed", extra={"port": name, "error": str(exc)})
        if forget:
            self._forget_except({a.ifindex for a in self.ports.values()})
        log.info("probes detached", extra={"port": name})

    def _forget_except(self, keep) -> None:
        """Delete the counters (ports, talkers, drops) of every device not in `keep`."""
        for name, key_type in ((k.MAP_PORTS, k.PortKey), (k.MAP_TALKERS, k.TalkerKey), (k.MAP_DROPS, k.DropKey)):
            m = self.maps.maps[name]
            for raw, _ in m.items():
                key = key_type.from_buffer_copy(raw)
                if key.ifindex not in keep:
                    m.delete(key)

    def close(self) -> None:
        """Detach every program (ours and leftovers); the pinned counters stay, so the next
        start continues them."""
        with self._lock:
            for name in list(self.ports):
                self._detach(name, forget=False)
            for ifindex, progs in (self._leftovers or {}).items():
                leftovers.remove(ifindex, progs)
            self._leftovers = None
            if self._drop_link:
                self._drop_link.destroy()
                self._drop_link = None
            if self._obj is not None:
                self._obj.close()
                self._obj = None

    # --- reading -------------------------------------------------------------------------
    def read(self, talkers_per_port: int) -> ProbeReading:
        """Counts, size histograms, top talkers, kernel drops and the probes' own health, each
        kernel map read once. Holds the lock (a few ms): close() must not close the map fds
        under a read."""
        with self._lock:
            health = self._health()
            if self._obj is None:
                return ProbeReading(counters=health)
            ports = {att.ifindex: name for name, att in self.ports.items()}
            reading = self.maps.read(ports, talkers_per_port, self.cfg.top_talker_sample,
                                     self._reasons if self.drops_available else None)
        reading.counters.update(health)
        return reading

    def _health(self) -> Dict[str, float]:
        out = {f"probes_{name}_total": float(v) for name, v in self.stats.items()}
        out["probes_ports_attached"] = float(len(self.ports))
        out["probes_ports_tc_ingress"] = float(sum(a.ingress == "tc" for a in self.ports.values()))
        out["probes_kernel_drops_available"] = 1.0 if self.drops_available else 0.0
        return out
