"""Read the probes' maps into neutral records, from a loaded object or from bpffs pins.

The agent reads through its `ProbeManager` (`read`: every map once, into one ProbeReading);
`telegen-sonic show probes` opens the pins a running agent left under `probes.pin_dir`. Both
decode here, at the boundary, with the class and direction names taken from the maps' own
BTF. Each method reads its map once; `read` calls each once.
"""
from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Tuple

from ..bpf import Index, Map
from ..records import ProbeCount, ProbeDrop, ProbeReading, ProbeTalker, SizeHistogram
from . import kernel as k

# bucket b counts lengths [2^b, 2^(b+1)) (bucket 0: 0 and 1), the last one everything above
SIZE_BOUNDS = tuple((1 << (b + 1)) - 1 for b in range(k.SIZE_BUCKETS - 1))


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

    @classmethod
    def from_pins(cls, pin_dir: str) -> "ProbeMaps":
        return cls({name: Map.from_pin(str(Path(pin_dir) / name)) for name in k.PINNED_MAPS})

    def close(self) -> None:
        for m in self.maps.values():
            m.close()

    def read(self, ports: Mapping[int, str], talkers_per_port: int, talker_sample: int,
             reasons: Optional[Mapping[int, str]] = None) -> ProbeReading:
        """Every map the agent exports, each read once; drops only with `reasons` (the kernel's
        drop reason names: the drop program is attached). `talker_sample` scales the talkers."""
        counts, sizes = self.ports(ports)
        talkers, left_out = self.talkers(ports, talkers_per_port, talker_sample)
        drops = self.drops(ports, reasons) if reasons is not None else []
        counters = {f"probes_kernel_{name}_total": float(v) for name, v in self.errors().items()}
        counters["probes_talkers_left_out"] = float(left_out)
        counters["probes_map_reads_total"] = float(sum(m.reads for m in self.maps.values()))
        return ProbeReading(counts, sizes, talkers, drops, counters)

    def ports(self, ports: Mapping[int, str]) -> Tuple[List[ProbeCount], List[SizeHistogram]]:
        """One read of port_counts: every class of every (port, direction), zeros included
        (exact and monotonic), and each (port, direction)'s size histogram."""
        counts, sizes = [], []
        for key, value in self.maps[k.MAP_PORTS].read(k.PortKey, self.counts_type):
            if key.ifindex not in ports:
                continue
            port, direction = ports[key.ifindex], self.directions.get(key.dir, str(key.dir))
            counts += [ProbeCount(port, direction, name, value.cls[c].packets, value.cls[c].bytes)
                       for c, name in sorted(self.classes.items())]
            sizes.append(SizeHistogram(port, direction, SIZE_BOUNDS, tuple(value.sizes),
                                       sum(value.cls[c].bytes for c in self.classes)))
        return counts, sizes

    def settings(self) -> k.ProbeSettings:
        return self.maps[k.MAP_SETTINGS].read(Index, k.ProbeSettings)[0][1]

    def talkers(self, ports: Mapping[int, str], per_port: int, sample: int) -> Tuple[List[ProbeTalker], int]:
        """The heaviest sampled sources per port, scaled by the sampling rate (1 in `sample`),
        and how many sources were left out past `per_port`."""
        by_port: Dict[str, List[ProbeTalker]] = {}
        for key, value in self.maps[k.MAP_TALKERS].read(k.TalkerKey, k.ClassCount):
            if key.ifindex not in ports:
                continue
            raw = bytes(key.addr)
            src = (str(ipaddress.IPv4Address(raw[:4])) if key.family == 4 else
                   str(ipaddress.IPv6Address(raw)) if key.family == 6 else raw[:6].hex(":"))
            by_port.setdefault(ports[key.ifindex], []).append(ProbeTalker(
                ports[key.ifindex], src, key.proto, self.classes.get(key.klass, str(key.klass)),
                value.packets * max(sample, 1), value.bytes * max(sample, 1)))
        left_out = sum(max(len(talkers) - per_port, 0) for talkers in by_port.values())
        return [t for talkers in by_port.values()
                for t in sorted(talkers, key=lambda t: (-t.packets, t.src))[:per_port]], left_out

    def drops(self, ports: Mapping[int, str], reasons: Mapping[int, str]) -> List[ProbeDrop]:
        return [ProbeDrop(ports[key.ifindex], reasons.get(key.reason, str(key.reason)), v.packets, v.bytes)
                for key, v in self.maps[k.MAP_DROPS].read(k.DropKey, k.ClassCount) if key.ifindex in ports]

    def errors(self) -> Dict[str, int]:
        """What the kernel side skipped because of a bound, by cause (see port_probe.h)."""
        value = self.maps[k.MAP_ERRORS].read(Index, k.ProbeErrors)[0][1]
        return {name: getattr(value, name) for name, _ in k.ProbeErrors._fields_}


def drop_reasons(enum: Mapping[int, str]) -> Dict[int, str]:
    """skb_drop_reason values -> short names (NO_SOCKET -> no_socket)."""
    out = _names(enum, "SKB_DROP_REASON_")
    out.update({v: n[len("SKB_"):].lower() for v, n in enum.items() if n in ("SKB_NOT_DROPPED_YET", "SKB_CONSUMED")})
    return out
