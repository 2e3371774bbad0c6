"""Check a SwitchModel namespace against the raw dumps it was loaded from.

The dumps are read here by SONiC's documented rules, not with the agent's own decoding
(sonic_agent.sonic.encoding, which is under test). ConfigDBConnector stores every value as a
string (str() of it), a list as the field `name@` holding the comma-joined values, and an entry
without fields as the placeholder field `NULL`; reading turns `name@` back into the list. A
dump is flat (`"TABLE|key": fields`, a redis dump like sonic-utilities' mock_tables) or nested
(`TABLE: {key: fields}`, like /etc/sonic/config_db.json), and may hold lists as JSON lists.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional

from sonic_agent.sonic.model import SwitchModel


def typed(fields: Mapping[str, object]) -> dict:
    """One entry's fields as a reader of redis sees them, from a dump's or from redis itself."""
    out = {}
    for name, value in fields.items():
        if isinstance(value, list):
            out[name] = [str(v) for v in value]
        elif name.endswith("@"):
            out[name[:-1]] = value.split(",")
        elif name != "NULL":
            out[name] = str(value)
    return out


def tables(dump: Mapping[str, dict], separator: str) -> Dict[str, Dict[str, dict]]:
    """{TABLE: {key: typed fields}} of a flat or nested dump."""
    out: Dict[str, Dict[str, dict]] = {}
    for top, value in dump.items():
        table, flat, entry = top.partition(separator)
        for key, fields in ({entry: value} if flat else value).items():
            out.setdefault(table, {})[key] = typed(fields)
    return out


def _int(value: Optional[str]) -> Optional[int]:
    return int(value) if value is not None else None


def check_namespace(model: SwitchModel, namespace: str, dumps: Mapping[str, dict], seps: Mapping[str, str]) -> int:
    """Assert every PORT, PORTCHANNEL, VLAN and MIRROR_SESSION with its fields; returns items checked."""
    cfg = tables(dumps.get("CONFIG_DB", {}), seps["CONFIG_DB"])
    appl = tables(dumps.get("APPL_DB", {}), seps["APPL_DB"])
    state = tables(dumps.get("STATE_DB", {}), seps["STATE_DB"])
    checked = 0

    ports = {p.name: p for p in model.ports(namespace)}
    assert set(ports) == set(cfg.get("PORT", {}))
    for name, fields in cfg.get("PORT", {}).items():
        port = ports[name]
        assert port.namespace == namespace
        assert port.alias == fields.get("alias", "")
        assert port.index == _int(fields.get("index"))
        if "lanes" in fields:
            assert port.lanes == tuple(int(v) for v in str(fields["lanes"]).split(","))
        assert port.speed_mbps == _int(fields.get("speed", appl.get("PORT_TABLE", {}).get(name, {}).get("speed")))
        assert port.mtu == _int(fields.get("mtu"))
        assert port.admin_status == fields.get("admin_status", "down")
        assert port.description == fields.get("description", "")
        if "fec" in fields:
            assert port.fec == fields["fec"]
        appl_port = appl.get("PORT_TABLE", {}).get(name, {})
        assert port.oper_status == appl_port.get("oper_status", "")
        assert port.flap_count == _int(appl_port.get("flap_count"))
        assert port.netdev_oper_status == state.get("PORT_TABLE", {}).get(name, {}).get("netdev_oper_status", "")
        checked += 1

    lags = {p.name: p for p in model.portchannels(namespace)}
    assert set(lags) == set(cfg.get("PORTCHANNEL", {}))
    members: Dict[str, set] = {}
    for key in cfg.get("PORTCHANNEL_MEMBER", {}):
        lag, _, member = key.partition(seps["CONFIG_DB"])
        members.setdefault(lag, set()).add(member)
    for name, fields in cfg.get("PORTCHANNEL", {}).items():
        lag = lags[name]
        assert set(lag.members) == members.get(name, set(fields.get("members", [])))
        assert lag.min_links == _int(fields.get("min_links"))
        assert lag.mtu == _int(fields.get("mtu"))
        assert lag.oper_status == appl.get("LAG_TABLE", {}).get(name, {}).get("oper_status", "")
        for member in lag.members:
            assert model.portchannel_of(member, namespace).name == name
        checked += 1

    vlans = {v.name: v for v in model.vlans(namespace)}
    assert set(vlans) == set(cfg.get("VLAN", {}))
    vlan_members: Dict[str, set] = {}
    for key, fields in cfg.get("VLAN_MEMBER", {}).items():
        vlan, _, port = key.partition(seps["CONFIG_DB"])
        vlan_members.setdefault(vlan, set()).add((port, fields.get("tagging_mode", "untagged")))
    for name, fields in cfg.get("VLAN", {}).items():
        vlan = vlans[name]
        assert vlan.vlanid == int(fields["vlanid"])
        assert {(m.port, m.tagging_mode) for m in vlan.members} == vlan_members.get(name, set())
        for member in vlan.members:
            assert name in [v.name for v in model.vlans_of(member.port, namespace)]
        checked += 1

    sessions = {s.name: s for s in model.mirror_sessions(namespace)}
    assert set(sessions) == set(cfg.get("MIRROR_SESSION", {}))
    for name, fields in cfg.get("MIRROR_SESSION", {}).items():
        session = sessions[name]
        assert session.fields == {k: ",".join(v) if isinstance(v, list) else v for k, v in fields.items()}
        assert session.src_ports == tuple(p for p in str(fields.get("src_port", "")).split(",") if p)
        assert session.direction == fields.get("direction", "BOTH").upper()
        if "gre_type" in fields:
            assert session.gre_type == int(fields["gre_type"], 0)
        assert session.status == state.get("MIRROR_SESSION_TABLE", {}).get(name, {}).get("status", "")
        checked += 1

    assert model.port_oids(namespace) == dumps.get("COUNTERS_DB", {}).get("COUNTERS_PORT_NAME_MAP", {})
    return checked
