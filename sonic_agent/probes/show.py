"""`telegen-sonic show probes [--format table|json]`: the counters of the running agent's probes.

Reads the maps the agent pinned under `probes.pin_dir` (from --config or
/etc/telegen-sonic/telegen-sonic.yaml, TELEGEN_PROBES__PIN_DIR, or the default), so it needs no agent API and works while the agent runs; it must run in the
agent's network namespace, where the maps' ifindexes name the right ports.
"""
from __future__ import annotations

import json
import os
import socket
from typing import Dict, List

from ..bpf import BpfError
from ..config import config_file, load_config
from ..errors import UserError
from ..sonic.view import natural_key
from .reader import ProbeMaps


def collect(pin_dir: str) -> Dict:
    """{ports: [{port, direction, classes: {class: {packets, bytes}}}], kernel_errors: {...}}."""
    try:
        maps = ProbeMaps.from_pins(pin_dir)
    except BpfError as exc:
        raise UserError(f"show probes: no probe maps under {pin_dir} (is the agent running with "
                        f"probes enabled?): {exc.strerror}") from None
    try:
        agent_netns = maps.settings().netns_ino
        if agent_netns != os.stat("/proc/self/ns/net").st_ino & 0xFFFFFFFF:
            # ifindexes only mean something in the agent's namespace: no wrong port names
            raise UserError("show probes: run it in the agent's network namespace (e.g. nsenter "
                            "--net=/run/netns/NAME; `ip netns exec` hides bpffs)")
        names = dict(socket.if_nameindex())
        rows: Dict[tuple, Dict] = {}
        counts, _ = maps.ports(names)
        for c in counts:
            rows.setdefault((c.port, c.direction), {})[c.klass] = {"packets": c.packets, "bytes": c.bytes}
        ports = [{"port": p, "direction": d, "classes": rows[(p, d)]}
                 for p, d in sorted(rows, key=lambda pd: (natural_key(pd[0]), pd[1]))]
        return {"pin_dir": pin_dir, "ports": ports, "kernel_errors": maps.errors()}
    finally:
        maps.close()


def table(doc: Dict) -> List[str]:
    lines = [f"{'PORT':<16} {'DIR':<3} {'CLASS':<10} {'PACKETS':>14} {'BYTES':>16}"]
    for row in doc["ports"]:
        for klass, c in row["classes"].items():
            if c["packets"]:
                lines.append(f"{row['port']:<16} {row['direction']:<3} {klass:<10} {c['packets']:>14} {c['bytes']:>16}")
    if len(lines) == 1:
        lines.append(f"(no packets counted yet on {len(doc['ports']) // 2} probed ports)")
    skipped = {k: v for k, v in doc["kernel_errors"].items() if v}
    if skipped:
        lines.append("kernel-side skips: " + ", ".join(f"{k}={v}" for k, v in skipped.items()))
    return lines


def main(args) -> int:
    doc = collect(load_config(config_file(args.config)).probes.pin_dir)
    if args.format == "json":
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(table(doc)))
    return 0
