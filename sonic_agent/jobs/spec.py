"""A job request (the original Telegen-Sonic OpenAPI's fields) checked into a `JobSpec`.

Every refusal is a `JobError` naming the field: `duration_sec: must be > 0, got -1`,
`filters[0].src_prefix: not an IP prefix: '10.0.0/8'`. Checks against the switch (the port
exists, is not a LAG member, is not mirrored already) are the manager's; these are the
request's own.

Fields: port (required), direction ingress|egress|both (both), span_method erspan|span
(erspan), vlan (1..4094, a filter on every rule), filters (one object or a list: each an
ACL rule; fields src_prefix, dst_prefix, protocol, src_port, dst_port, vlan, tcp_flags; a
frame matching any rule is mirrored), sample_rate (1: every frame), duration_sec (default and
maximum from `jobs`), otlp_export (false), result_detail summary|flows|pcaplike (flows),
topk_flows (default and maximum from `jobs`).
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..config import JobsConfig

DIRECTIONS = ("ingress", "egress", "both")
SPAN_METHODS = ("erspan", "span")
RESULT_DETAILS = ("summary", "flows", "pcaplike")
PROTOCOLS = {"icmp": 1, "tcp": 6, "udp": 17, "icmpv6": 58, "sctp": 132}
TCP_FLAGS = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ece": 0x40, "cwr": 0x80}
FIELDS = ("port", "direction", "span_method", "vlan", "filters", "sample_rate", "duration_sec", "otlp_export",
          "result_detail", "topk_flows")
FILTER_FIELDS = ("src_prefix", "dst_prefix", "protocol", "src_port", "dst_port", "vlan", "tcp_flags")
MAX_FILTERS = 16  # ACL rules per job


class JobError(Exception):
    """A refused request: `status` (400, 404, 409, 429, ...) and one line naming what was wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def bad(message: str) -> JobError:
    return JobError(400, message)


@dataclass(frozen=True)
class Filter:
    """One ACL rule's match; None: any. Ports are (low, high), equal for one port."""

    src_prefix: Optional[str] = None
    dst_prefix: Optional[str] = None
    protocol: Optional[int] = None
    src_port: Optional[Tuple[int, int]] = None
    dst_port: Optional[Tuple[int, int]] = None
    vlan: Optional[int] = None
    tcp_flags: Optional[Tuple[int, int]] = None  # (value, mask)

    @property
    def ipv6(self) -> bool:
        return any(p is not None and ":" in p for p in (self.src_prefix, self.dst_prefix))

    def as_dict(self) -> Dict[str, Any]:
        out: Dict[str, Any] = {}
        for name in FILTER_FIELDS:
            value = getattr(self, name)
            if value is None:
                continue
            if name in ("src_port", "dst_port"):
                value = value[0] if value[0] == value[1] else f"{value[0]}-{value[1]}"
            elif name == "tcp_flags":
                value = f"0x{value[0]:02x}/0x{value[1]:02x}"
            out[name] = value
        return out


@dataclass(frozen=True)
class JobSpec:
    port: str
    direction: str = "both"
    span_method: str = "erspan"
    vlan: Optional[int] = None
    filters: Tuple[Filter, ...] = ()
    sample_rate: int = 1
    duration_s: float = 120.0
    otlp_export: bool = False
    result_detail: str = "flows"
    topk_flows: int = 1024

    def as_dict(self) -> Dict[str, Any]:
        """The request as the API shows it back (the original field names)."""
        return {"port": self.port, "direction": self.direction, "span_method": self.span_method, "vlan": self.vlan,
                "filters": [f.as_dict() for f in self.filters], "sample_rate": self.sample_rate,
                "duration_sec": self.duration_s, "otlp_export": self.otlp_export,
                "result_detail": self.result_detail, "topk_flows": self.topk_flows}


def parse_spec(body: Any, cfg: JobsConfig) -> JobSpec:
    if not isinstance(body, dict):
        raise bad("request body: must be a JSON object")
    unknown = [name for name in body if name not in FIELDS]
    if unknown:
        raise bad(f"{unknown[0]}: unknown field (known: {', '.join(FIELDS)})")
    port = body.get("port")
    if not isinstance(port, str) or not port:
        raise bad("port: required, a port name such as Ethernet0")
    vlan = _vlan(body.get("vlan"), "vlan")
    filters = _filters(body.get("filters"))
    if vlan is not None:
        filters = tuple(f if f.vlan is not None else _replace_vlan(f, vlan) for f in filters) or (Filter(vlan=vlan),)
    return JobSpec(
        port=port, direction=_choice(body, "direction", DIRECTIONS, "both"),
        span_method=_choice(body, "span_method", SPAN_METHODS, "erspan"), vlan=vlan, filters=filters,
        sample_rate=_integer(body.get("sample_rate", 1), "sample_rate", 1, 1 << 20),
        duration_s=_duration(body.get("duration_sec", cfg.default_duration_s), cfg.max_duration_s),
        otlp_export=_boolean(body.get("otlp_export", False), "otlp_export"),
        result_detail=_choice(body, "result_detail", RESULT_DETAILS, "flows"),
        topk_flows=_integer(body.get("topk_flows", cfg.topk_flows), "topk_flows", 1, cfg.topk_flows))


def _replace_vlan(f: Filter, vlan: int) -> Filter:
    return Filter(f.src_prefix, f.dst_prefix, f.protocol, f.src_port, f.dst_port, vlan, f.tcp_flags)


def _choice(body: Mapping[str, Any], name: str, choices: Tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in choices:
        raise bad(f"{name}: must be one of {', '.join(choices)}, got {value!r}")
    return value


def _integer(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{name}: must be an integer, got {value!r}")
    if not low <= value <= high:
        raise bad(f"{name}: must be {low}..{high}, got {value}")
    return value


def _boolean(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise bad(f"{name}: must be true or false, got {value!r}")
    return value


def _duration(value: Any, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad(f"duration_sec: must be a number of seconds, got {value!r}")
    if value <= 0:
        raise bad(f"duration_sec: must be > 0, got {value}")
    if value > maximum:
        raise bad(f"duration_sec: must be <= {maximum:g} (jobs.max_duration_s), got {value}")
    return float(value)


def _vlan(value: Any, name: str) -> Optional[int]:
    return None if value is None else _integer(value, name, 1, 4094)


def _filters(value: Any) -> Tuple[Filter, ...]:
    if value is None or value == {} or value == []:  # none (the original API's clients send {})
        return ()
    items: List[Any] = [value] if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise bad(f"filters: must be an object or a list of objects, got {value!r}")
    if len(items) > MAX_FILTERS:
        raise bad(f"filters: at most {MAX_FILTERS} rules, got {len(items)}")
    return tuple(_filter(item, f"filters[{i}]") for i, item in enumerate(items))


def _filter(item: Any, where: str) -> Filter:
    if not isinstance(item, dict):
        raise bad(f"{where}: must be an object, got {item!r}")
    unknown = [name for name in item if name not in FILTER_FIELDS]
    if unknown:
        raise bad(f"{where}.{unknown[0]}: unknown filter (known: {', '.join(FILTER_FIELDS)})")
    if not item:
        raise bad(f"{where}: empty filter (give at least one of {', '.join(FILTER_FIELDS)})")
    f = Filter(src_prefix=_prefix(item.get("src_prefix"), f"{where}.src_prefix"),
               dst_prefix=_prefix(item.get("dst_prefix"), f"{where}.dst_prefix"),
               protocol=_protocol(item.get("protocol"), f"{where}.protocol"),
               src_port=_ports(item.get("src_port"), f"{where}.src_port"),
               dst_port=_ports(item.get("dst_port"), f"{where}.dst_port"),
               vlan=_vlan(item.get("vlan"), f"{where}.vlan"),
               tcp_flags=_tcp_flags(item.get("tcp_flags"), f"{where}.tcp_flags"))
    families = {":" in p for p in (f.src_prefix, f.dst_prefix) if p is not None}
    if len(families) > 1:
        raise bad(f"{where}.dst_prefix: an IPv4 and an IPv6 prefix in one filter")
    if (f.src_port or f.dst_port) and f.protocol not in (None, 6, 17, 132):
        raise bad(f"{where}.protocol: L4 ports need tcp, udp or sctp, got {f.protocol}")
    if f.tcp_flags is not None and f.protocol not in (None, 6):
        raise bad(f"{where}.tcp_flags: needs protocol tcp, got {f.protocol}")
    return f


def _prefix(value: Any, name: str) -> Optional[str]:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise bad(f"{name}: not an IP prefix: {value!r}") from None


def _protocol(value: Any, name: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, str) and value.lower() in PROTOCOLS:
        return PROTOCOLS[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
        return value
    raise bad(f"{name}: must be {', '.join(PROTOCOLS)} or 0..255, got {value!r}")


def _ports(value: Any, name: str) -> Optional[Tuple[int, int]]:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, str) and value.replace("-", "", 1).isdigit():
        low_text, _, high_text = value.partition("-")
        low, high = int(low_text), int(high_text or low_text)
    else:
        raise bad(f"{name}: must be a port or a range low-high, got {value!r}")
    if not 0 <= low <= high <= 65535:
        raise bad(f"{name}: must be within 0..65535, low <= high, got {value!r}")
    return low, high


def _tcp_flags(value: Any, name: str) -> Optional[Tuple[int, int]]:
    """"SYN,ACK" (those set, the others any) or "0x12/0x17" (value/mask)."""
    if value is None:
        return None
    if isinstance(value, str) and "/" in value:
        try:
            flags, mask = (int(part, 0) for part in value.split("/", 1))
        except ValueError:
            raise bad(f"{name}: must be flag names (SYN,ACK) or value/mask (0x12/0x17), got {value!r}") from None
    elif isinstance(value, str):
        names = [part.strip().lower() for part in value.split(",") if part.strip()]
        if not names or any(n not in TCP_FLAGS for n in names):
            raise bad(f"{name}: must be flag names ({', '.join(n.upper() for n in TCP_FLAGS)}), got {value!r}")
        flags = mask = sum(TCP_FLAGS[n] for n in set(names))
    else:
        raise bad(f"{name}: must be a string, got {value!r}")
    if not (0 <= flags <= 0xFF and 0 < mask <= 0xFF and flags & ~mask == 0):
        raise bad(f"{name}: value and mask must be 8 bits, the value within the mask, got {value!r}")
    return flags, mask
