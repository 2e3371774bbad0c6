"""Read the probes' maps into neutral records, from a loaded object or from bpffs pins.

The agent reads through its `ProbeManager`; `telegen-sonic show probes` opens the pins a
running agent left under `probes.pin_dir`. Both decode here, at the boundary, with the
class and direction names taken from the maps' own BTF.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Dict, List, Mapping, Tuple

from ..bpf import Map
from ..records import ProbeCount, ProbeDrop, ProbeTalker, SizeHistogram
from . import kernel as k


def _names(enum: Mapping[int, str], prefix: str) -> Dict[int, str]:
    return {v: n[len(prefix):].lower() for v, n in enum.items() if n.startswith(prefix)}


class ProbeMaps:
    """The probes' maps, opened by name; `ports` maps ifindex -> port name at read time."""

    def __init__(self, maps: Mapping[str, Map]):
        self.maps = dict(maps)
        ports = self.maps[k.MAP_PORTS]
        self.classes = _names(ports.enum("probe_class"), "CLASS_")
        self.directions = _names(ports.enum("probe_dir"), "PROBE_")
        self.counts_type = k.port_counts_type(len(self.classes))
        self.talkers_left_out = 0  # sources past `per_port` at the last talkers() read

    @classmethod
    def from_pins(cls, pin_dir: str) -> "ProbeMaps":
        return cls({name: Map.from_pin(str(Path(pin_dir) / name)) for name in k.PINNED_MAPS})

    def close(self) -> None:
        for m in self.maps.values():
            m.close()

    def _port_entries(self, ports: Mapping[int, str]):
        for key, value in self.maps[k.MAP_PORTS].read(k.PortKey, self.counts_type):
            if key.ifindex in ports:
                yield ports[key.ifindex], self.directions.get(key.dir, str(key.dir)), value

    def counts(self, ports: Mapping[int, str]) -> List[ProbeCount]:
        """Every class of every (port, direction), zeros included: exact and monotonic."""
        return self.counts_and_sizes(ports)[0]

    def counts_and_sizes(self, ports: Mapping[int, str]) -> Tuple[List[ProbeCount], List[SizeHistogram]]:
        """From one read of the port map: the class counts and each (port, direction)'s size
        histogram, whose sum is the bytes of every class there."""
        counts, sizes = [], []
        bounds = tuple((1 << (b + 1)) - 1 for b in range(k.SIZE_BUCKETS - 1))
        for port, direction, value in self._port_entries(ports):
            counts += [ProbeCount(port, direction, name, value.cls[c].packets, value.cls[c].bytes)
                       for c, name in sorted(self.classes.items())]
            sizes.append(SizeHistogram(port, direction, bounds, tuple(value.sizes),
                                       sum(value.cls[c].bytes for c in self.classes)))
        return counts, sizes

    def settings(self) -> k.ProbeSettings:
        return self.maps[k.MAP_SETTINGS].read(k.Index, k.ProbeSettings)[0][1]

    def talkers(self, ports: Mapping[int, str], per_port: int = 10) -> List[ProbeTalker]:
        """The heaviest sampled sources per port, scaled by the sampling rate; how many were
        left out is kept in `talkers_left_out`."""
        scale = max(self.settings().talker_sample, 1)
        by_port: Dict[str, List[ProbeTalker]] = {}
        for key, value in self.maps[k.MAP_TALKERS].read(k.TalkerKey, k.ClassCount):
            if key.ifindex not in ports:
                continue
            raw = bytes(key.addr)
            src = (str(ipaddress.IPv4Address(raw[:4])) if key.family == 4 else
                   str(ipaddress.IPv6Address(raw)) if key.family == 6 else raw[:6].hex(":"))
            by_port.setdefault(ports[key.ifindex], []).append(ProbeTalker(
                ports[key.ifindex], src, key.proto, self.classes.get(key.klass, str(key.klass)),
                value.packets * scale, value.bytes * scale))
        self.talkers_left_out = sum(max(len(talkers) - per_port, 0) for talkers in by_port.values())
        return [t for talkers in by_port.values()
                for t in sorted(talkers, key=lambda t: (-t.packets, t.src))[:per_port]]

    def drops(self, ports: Mapping[int, str], reasons: Mapping[int, str]) -> List[ProbeDrop]:
        return [ProbeDrop(ports[key.ifindex], reasons.get(key.reason, str(key.reason)), v.packets, v.bytes)
                for key, v in self.maps[k.MAP_DROPS].read(k.DropKey, k.ClassCount) if key.ifindex in ports]

    def errors(self) -> Dict[str, int]:
        """What the kernel side skipped because of a bound, by cause (see port_probe.h)."""
        value = self.maps[k.MAP_ERRORS].read(k.Index, k.ProbeErrors)[0][1]
        return {name: getattr(value, name) for name, _ in k.ProbeErrors._fields_}


def drop_reasons(enum: Mapping[int, str]) -> Dict[int, str]:
    """skb_drop_reason values -> short names (NO_SOCKET -> no_socket)."""
    out = _names(enum, "SKB_DROP_REASON_")
    out.update({v: n[len("SKB_"):].lower() for v, n in enum.items() if n in ("SKB_NOT_DROPPED_YET", "SKB_CONSUMED")})
    return out
