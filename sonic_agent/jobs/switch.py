"""What a job writes to the switch, in SONiC's own terms, and the one writer of CONFIG_DB.

A job without filters is a port mirror: `MIRROR_SESSION|telegen-job-<id>` with src_port and
direction (ERSPAN: src_ip, dst_ip, gre_type, dscp, ttl, queue; SPAN: dst_port). A job with
filters is EVERFLOW-style: the session without src_port, an `ACL_TABLE` of type MIRROR (or
MIRRORV6 for IPv6 prefixes) per stage bound to the port, and one `ACL_RULE` per filter whose
MIRROR_INGRESS_ACTION / MIRROR_EGRESS_ACTION names the session. Every name carries a job
prefix, so the agent finds what a dead instance left (`JobWriter.own_keys`). Entries are
written in one MULTI/EXEC, session first (rules name it), and removed rules first.
"""
from __future__ import annotations

import logging
from typing import Dict, List, Sequence, Tuple

import redis

from ..config import JobsConfig
from ..sonic.dbconfig import DatabaseConfig
from ..sonic.encoding import decode_fields, encode_fields, glob_escape
from .spec import Filter, JobSpec

log = logging.getLogger("telegen.jobs")
SESSION_PREFIX = "telegen-job-"
ACL_PREFIX = "TELEGEN_JOB_"
MIRROR_ACL_TYPES = ("MIRROR", "MIRRORV6", "MIRROR_DSCP")
STAGES = {"ingress": (("ingress", "IN", "MIRROR_INGRESS_ACTION"),),
          "egress": (("egress", "OUT", "MIRROR_EGRESS_ACTION"),)}
STAGES["both"] = STAGES["ingress"] + STAGES["egress"]
SESSION_DIRECTIONS = {"ingress": "RX", "egress": "TX", "both": "BOTH"}
Entry = Tuple[str, Dict[str, str]]  # (redis key, the hash as SONiC stores it)


def session_name(job_id: str) -> str:
    return SESSION_PREFIX + job_id


def entries(job_id: str, spec: JobSpec, cfg: JobsConfig, src_ip: str, dst_ip: str, sep: str = "|") -> List[Entry]:
    """The CONFIG_DB entries of a job, in write order."""
    session = session_name(job_id)
    if spec.span_method == "span":
        fields: Dict[str, object] = {"type": "SPAN", "dst_port": cfg.span_port}
    else:
        fields = {"type": "ERSPAN", "src_ip": src_ip, "dst_ip": dst_ip, "gre_type": cfg.gre_type,
                  "dscp": cfg.dscp, "ttl": cfg.ttl}
        if cfg.queue is not None:
            fields["queue"] = cfg.queue
    if spec.sample_rate > 1:
        fields["sample_rate"] = spec.sample_rate
    if not spec.filters:
        fields.update(src_port=spec.port, direction=SESSION_DIRECTIONS[spec.direction])
        return [(f"MIRROR_SESSION{sep}{session}", encode_fields(fields))]
    out = [(f"MIRROR_SESSION{sep}{session}", encode_fields(fields))]
    for stage, tag, action in STAGES[spec.direction]:
        for ipv6 in (False, True):
            rules = [f for f in spec.filters if f.ipv6 == ipv6]
            if not rules:
                continue
            table = f"{ACL_PREFIX}{job_id.upper()}_{tag}{'_V6' if ipv6 else ''}"
            out.append((f"ACL_TABLE{sep}{table}", encode_fields({
                "type": "MIRRORV6" if ipv6 else "MIRROR", "stage": stage, "ports": [spec.port],
                "policy_desc": f"telegen-sonic job {job_id}"})))
            for i, f in enumerate(rules):
                out.append((f"ACL_RULE{sep}{table}{sep}RULE_{i + 1}",
                            encode_fields({"PRIORITY": str(9999 - i), action: session, **rule_match(f)})))
    return out


def rule_match(f: Filter) -> Dict[str, str]:
    """An ACL_RULE's match fields, as SONiC names them."""
    out = {}
    v6 = "V6" if f.ipv6 else ""
    if f.src_prefix:
        out[f"SRC_IP{v6}"] = f.src_prefix
    if f.dst_prefix:
        out[f"DST_IP{v6}"] = f.dst_prefix
    if f.protocol is not None:
        out["IP_PROTOCOL"] = str(f.protocol)
    for name, ports in (("L4_SRC_PORT", f.src_port), ("L4_DST_PORT", f.dst_port)):
        if ports is not None:
            out[name if ports[0] == ports[1] else name + "_RANGE"] = (
                str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}")
    if f.vlan is not None:
        out["VLAN_ID"] = str(f.vlan)
    if f.tcp_flags is not None:
        out["TCP_FLAGS"] = f"0x{f.tcp_flags[0]:02x}/0x{f.tcp_flags[1]:02x}"
    return out


class JobWriter:
    """The agent's one CONFIG_DB writer (the model's clients only read), one per namespace."""

    def __init__(self, config: DatabaseConfig):
        self.namespace = config.namespace
        self.separator = config.db("CONFIG_DB").separator
        self.client: redis.Redis = config.connect("CONFIG_DB")

    def write(self, job_entries: Sequence[Entry]) -> None:
        pipe = self.client.pipeline(transaction=True)
        for key, fields in job_entries:
            pipe.delete(key)
            pipe.hset(key, mapping=fields)
        pipe.execute()

    def remove(self, keys: Sequence[str]) -> int:
        """Delete `keys`, rules before tables before sessions; how many existed."""
        if not keys:
            return 0
        order = {"ACL_RULE": 0, "ACL_TABLE": 1, "MIRROR_SESSION": 2}
        ordered = sorted(keys, key=lambda k: order.get(k.split(self.separator, 1)[0], 3))
        return int(self.client.delete(*ordered))

    def own_keys(self) -> List[str]:
        """Every CONFIG_DB key a job of this agent writes (by the job prefixes)."""
        sep = self.separator
        patterns = (f"MIRROR_SESSION{sep}{SESSION_PREFIX}*", f"ACL_TABLE{sep}{ACL_PREFIX}*",
                    f"ACL_RULE{sep}{ACL_PREFIX}*")
        return [key for pattern in patterns for key in self.client.scan_iter(match=glob_escape(pattern[:-1]) + "*",
                                                                              count=1000)]

    def mirror_acl_bindings(self) -> Dict[str, str]:
        """{port: ACL table} for the ports a mirror ACL table (anyone's) is bound to."""
        prefix = f"ACL_TABLE{self.separator}"
        keys = list(self.client.scan_iter(match=glob_escape(prefix) + "*", count=1000))
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(key)
        out = {}
        for key, raw in zip(keys, pipe.execute()):
            fields = decode_fields(raw)
            if str(fields.get("type", "")).upper() in MIRROR_ACL_TYPES:
                ports = fields.get("ports", [])
                for port in ports if isinstance(ports, list) else str(ports).split(","):
                    out.setdefault(port, key[len(prefix):])
        return out

    def close(self) -> None:
        self.client.close()

