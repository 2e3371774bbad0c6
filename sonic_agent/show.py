"""`telegen-sonic show ports|lags|vlans|mirror-sessions|probes|slo`: the live model, printed.

The SONiC views read every namespace's redis once (database_global.json beside the given
database_config.json adds the ASIC namespaces) and print a table or a JSON array with one
object per item; `probes` belongs to the port probes (sonic_agent.probes.show), `slo` to the SLO
engine (sonic_agent.slo.cli).
"""
from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from .sonic.model import SwitchModel

Row = Dict[str, object]


def _port_rows(model: SwitchModel) -> List[Row]:
    rows = []
    for port in model.ports():
        lag = model.portchannel_of(port.name, port.namespace)
        rows.append({**dataclasses.asdict(port), "ifindex": model.ifindex(port.name),
                     "portchannel": lag.name if lag else "",
                     "vlans": [v.name for v in model.vlans_of(port.name, port.namespace)],
                     "addresses": _addresses(model, port.name, port.namespace)})
    return rows


def _lag_rows(model: SwitchModel) -> List[Row]:
    return [{**dataclasses.asdict(lag), "ifindex": model.ifindex(lag.name),
             "vlans": [v.name for v in model.vlans_of(lag.name, lag.namespace)],
             "addresses": _addresses(model, lag.name, lag.namespace)} for lag in model.portchannels()]


def _vlan_rows(model: SwitchModel) -> List[Row]:
    return [{**dataclasses.asdict(vlan), "ifindex": model.ifindex(vlan.name),
             "addresses": _addresses(model, vlan.name, vlan.namespace)} for vlan in model.vlans()]


def _mirror_rows(model: SwitchModel) -> List[Row]:
    rows = []
    for session in model.mirror_sessions():
        row = dataclasses.asdict(session)
        row["gre_type"] = f"0x{session.gre_type:04x}" if session.gre_type is not None else None
        rows.append(row)
    return rows


def _addresses(model: SwitchModel, interface: str, namespace: str) -> List[str]:
    return [str(a.address) for a in model.addresses_of(interface, namespace)]


VIEWS: Dict[str, Callable[[SwitchModel], List[Row]]] = {
    "ports": _port_rows, "lags": _lag_rows, "vlans": _vlan_rows, "mirror-sessions": _mirror_rows}
COLUMNS: Dict[str, Sequence[str]] = {
    "ports": ("name", "alias", "index", "lanes", "speed_mbps", "mtu", "admin_status", "oper_status",
              "netdev_oper_status", "fec", "flap_count", "ifindex", "portchannel", "vlans", "description"),
    "lags": ("name", "members", "min_links", "mtu", "admin_status", "oper_status", "ifindex", "vlans", "addresses"),
    "vlans": ("name", "vlanid", "members", "admin_status", "mtu", "ifindex", "addresses"),
    "mirror-sessions": ("name", "type", "status", "src_ip", "dst_ip", "gre_type", "dst_port", "src_ports",
                        "direction", "dscp", "ttl", "queue", "sample_rate", "truncate_size"),
}


def cell(value: object) -> str:
    if value is None or value == "" or value == [] or value == ():
        return "-"
    if isinstance(value, dict):
        if "port" in value:  # a VLAN member
            return f"{value['port']}:{value.get('tagging_mode', '')}"
        return ",".join(f"{k}:{v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value)
    return str(value)


def format_table(columns: Sequence[str], rows: Sequence[Row]) -> str:
    """Aligned columns; headers upper-cased; empty values as '-'."""
    cells = [[c.upper() for c in columns]] + [[cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip() for r in cells)


def main(args) -> int:
    if args.what == "probes":
        return importlib.import_module("sonic_agent.probes.show").main(args)
    if args.what == "slo":  # what the running agent wrote to STATE_DB TELEGEN_SLO_TABLE
        return importlib.import_module("sonic_agent.slo.cli").show(args)
    global_path = Path(args.db_config).parent / "database_global.json"
    model = SwitchModel.from_paths(args.db_config, str(global_path) if global_path.exists() else None)
    model.sync()
    rows = VIEWS[args.what](model)
    if args.format == "json":
        print(json.dumps(rows, indent=2, default=str))
        return 0
    columns = list(COLUMNS[args.what])
    if len(model.namespaces) > 1:
        columns.insert(1, "namespace")
    print(format_table(columns, rows))
    return 0
