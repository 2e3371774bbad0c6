"""The agent's configuration: typed sections, loaded from YAML, overridden by TELEGEN_* variables.

Every section is a dataclass; `load_config` walks the YAML mapping against the dataclass
fields and raises `UserError` naming the dotted field path on an unknown key or a wrong type.
An environment variable `TELEGEN_<SECTION>__<FIELD>` (double underscore between levels,
e.g. `TELEGEN_EXPORT__PROMETHEUS__LISTEN=0.0.0.0:9110`) overrides a field; its value is read
as a YAML scalar and type-checked like the file.
"""
from __future__ import annotations

import dataclasses
import math
import re
import mmap
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

from .errors import UserError
from .listen import parse_listen

ENV_PREFIX = "TELEGEN_"
PAGE_KB = mmap.PAGESIZE // 1024  # AF_PACKET ring blocks are whole pages
SONIC_DB_CONFIG = "/var/run/redis/sonic-db/database_config.json"
OPERATOR_CONFIG = "/etc/telegen-sonic/telegen-sonic.yaml"  # read without --config when present


@dataclass
class SonicConfig:
    database_config: str = SONIC_DB_CONFIG
    # Multi-ASIC: read when present; every namespace's redis is then followed.
    database_global: str = "/var/run/redis/sonic-db/database_global.json"
    reconnect_max_s: float = 30.0


@dataclass
class ProbesConfig:
    enabled: bool = True
    management_interface: Optional[str] = "eth0"
    grpc_ports: List[int] = field(default_factory=lambda: [8080, 50051])
    top_talkers: int = 1024
    # One in N CPU-bound packets updates the top-talker map (the counting path is exact).
    top_talker_sample: int = 16
    pin_dir: str = "/sys/fs/bpf/telegen-sonic"
    read_interval_s: float = 1.0


@dataclass
class MirrorConfig:
    enabled: bool = False
    interface: Optional[str] = None
    mode: str = "xdp"  # xdp | afpacket
    max_flows: int = 65536
    top_flows: int = 100
    vendor_header_len: int = 22  # bytes after a GRE 0x8949 header (Mellanox)
    # AF_PACKET ring (mode afpacket): blocks x block size is what the ring keeps resident,
    # cut into slots sized from the interface MTU (erspan.afpacket.slot_size).
    ring_blocks: int = 16
    ring_block_kb: int = 256


@dataclass
class TlsConfig:
    """A client's TLS (OTLP): the CA to verify the collector, an optional client certificate."""

    ca: Optional[str] = None
    cert: Optional[str] = None
    key: Optional[str] = None
    insecure: bool = False


@dataclass
class ServerTlsConfig:
    """A server's TLS (gNMI): its certificate, and a client CA that turns on mTLS."""

    cert: Optional[str] = None
    key: Optional[str] = None
    client_ca: Optional[str] = None


@dataclass
class PrometheusConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:9110"
    max_series: int = 50000


@dataclass
class OtlpConfig:
    enabled: bool = False
    endpoint: str = "http://127.0.0.1:4317"
    protocol: str = "grpc"  # grpc | http
    compression: str = "gzip"  # gzip | none
    headers: Dict[str, str] = field(default_factory=dict)
    interval_s: float = 10.0
    temporality: str = "cumulative"  # cumulative | delta
    timeout_s: float = 10.0
    queue_size: int = 64
    max_backoff_s: float = 30.0
    tls: TlsConfig = field(default_factory=TlsConfig)


@dataclass
class GnmiConfig:
    enabled: bool = False
    listen: str = "127.0.0.1:50051"
    username: Optional[str] = None
    password: Optional[str] = None
    max_subscriptions: int = 64  # Subscribe RPCs open at once; Get and Capabilities keep their own room
    tls: ServerTlsConfig = field(default_factory=ServerTlsConfig)


@dataclass
class ExportConfig:
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    otlp: OtlpConfig = field(default_factory=OtlpConfig)
    gnmi: GnmiConfig = field(default_factory=GnmiConfig)


@dataclass
class FamilyConfig:
    """One family of SONiC tables (sonic_agent.sonic.families): on or off, how often it is read
    (each read costs a SCAN and a pipelined HGETALL), and at most how many entries."""

    enabled: bool = True
    refresh_s: float = 10.0
    max_entries: int = 4096


def _family(**kw) -> Callable[[], FamilyConfig]:
    return lambda: FamilyConfig(**kw)


@dataclass
class FamiliesConfig:
    transceivers: FamilyConfig = field(default_factory=_family())
    transceiver_status: FamilyConfig = field(default_factory=_family())  # status fields and alarm flags
    platform: FamilyConfig = field(default_factory=_family())  # PSUs, fans, sensors, chassis, reboot cause
    bgp: FamilyConfig = field(default_factory=_family(refresh_s=1.0))
    bfd: FamilyConfig = field(default_factory=_family(refresh_s=1.0))
    lldp: FamilyConfig = field(default_factory=_family())
    routes: FamilyConfig = field(default_factory=_family(refresh_s=30.0, max_entries=200_000))
    fdb: FamilyConfig = field(default_factory=_family(refresh_s=30.0, max_entries=65_536))
    crm: FamilyConfig = field(default_factory=_family())
    watermarks: FamilyConfig = field(default_factory=_family())  # queues, priority groups, buffer pools
    traps: FamilyConfig = field(default_factory=_family(refresh_s=1.0))  # also the CPU-path series
    containers: FamilyConfig = field(default_factory=_family())  # DOCKER_STATS and FEATURE
    processes: FamilyConfig = field(default_factory=_family(max_entries=512))


@dataclass
class HostConfig:
    """The switch's Linux from /proc (sonic_agent.hoststats): `proc` is the host's /proc and
    `root` the host's / as the agent sees them (a container mounts them, e.g. /host/proc)."""

    enabled: bool = True
    refresh_s: float = 1.0
    proc: str = "/proc"
    root: str = "/"


@dataclass
class AgentConfig:
    log_level: str = "info"
    log_format: str = "json"  # json | text
    # Every source is read once per tick into the Snapshot every exporter serves: what a scrape,
    # an OTLP export or a gNMI sample carries is at most one tick old.
    tick_s: float = 1.0
    sonic: SonicConfig = field(default_factory=SonicConfig)
    probes: ProbesConfig = field(default_factory=ProbesConfig)
    mirror: MirrorConfig = field(default_factory=MirrorConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    families: FamiliesConfig = field(default_factory=FamiliesConfig)
    host: HostConfig = field(default_factory=HostConfig)


CHOICES = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("json", "text"),
    "mirror.mode": ("xdp", "afpacket"),
    "export.otlp.protocol": ("grpc", "http"),
    "export.otlp.compression": ("gzip", "none"),
    "export.otlp.temporality": ("cumulative", "delta"),
}

# Numeric bounds: (low, high); a float field's low is exclusive (an interval of 0 would spin),
# an int field's inclusive; high (None: unbounded) is always inclusive. A list's items share
# the list's entry. The upper bounds keep a typo from sizing a map or ring the host cannot hold.
RANGES: Dict[str, Tuple[float, Optional[float]]] = {
    "tick_s": (0, 3600),
    "sonic.reconnect_max_s": (0, None),
    "probes.grpc_ports": (1, 65535),
    "probes.top_talkers": (1, 1 << 20),
    "probes.top_talker_sample": (0, None),  # 0: no top-talker tracking
    "probes.read_interval_s": (0, None),
    "mirror.max_flows": (1, 1 << 22),
    "mirror.top_flows": (1, None),
    "mirror.vendor_header_len": (0, 255),
    "mirror.ring_blocks": (1, 1024),
    "mirror.ring_block_kb": (PAGE_KB, 1 << 16),
    "export.prometheus.max_series": (1, None),
    "export.otlp.interval_s": (0, None),
    "export.otlp.timeout_s": (0, None),
    "export.otlp.queue_size": (1, 1 << 16),
    "export.otlp.max_backoff_s": (0, None),
    "export.gnmi.max_subscriptions": (1, 1024),
    "families.*.refresh_s": (0, 86400),
    "families.*.max_entries": (1, 1 << 22),
    "host.refresh_s": (0, 86400),
}
RING_MAX_KB = 1 << 20  # mirror.ring_blocks x mirror.ring_block_kb: resident, so at most 1 GiB
LISTENS = ("export.prometheus.listen", "export.gnmi.listen")


def config_file(given: Optional[str]) -> Optional[str]:
    """The config to read: --config, else OPERATOR_CONFIG where it exists (the extension image
    mounts /etc/telegen-sonic), else none (defaults and TELEGEN_* only)."""
    if given is not None:
        return given
    return OPERATOR_CONFIG if os.path.isfile(OPERATOR_CONFIG) else None


def load_config(path: Optional[str] = None, environ: Optional[Mapping[str, str]] = None) -> AgentConfig:
    """Read the YAML file (if given), apply TELEGEN_* overrides, return a validated config."""
    raw: Dict[str, Any] = {}
    if path is not None:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise UserError(f"config: cannot read {path}: {exc.strerror}") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise UserError(f"config: {path}{where}: not valid YAML") from None
        if not isinstance(raw, dict):
            raise UserError(f"config: {path}: top level must be a mapping")
    _apply_env(raw, os.environ if environ is None else environ)
    cfg = _build(AgentConfig, raw, "")
    if cfg.mirror.enabled and not cfg.mirror.interface:
        raise UserError("config: mirror.interface: required when mirror.enabled is true")
    if cfg.mirror.ring_block_kb % PAGE_KB:
        raise UserError(f"config: mirror.ring_block_kb: must be a multiple of the page size ({PAGE_KB} KB), "
                        f"got {cfg.mirror.ring_block_kb}")
    if cfg.mirror.ring_blocks * cfg.mirror.ring_block_kb > RING_MAX_KB:
        raise UserError(f"config: mirror.ring_blocks: {cfg.mirror.ring_blocks} x mirror.ring_block_kb "
                        f"{cfg.mirror.ring_block_kb} exceeds {RING_MAX_KB} KB")
    return cfg


def _apply_env(raw: Dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX):
            continue
        parts = name[len(ENV_PREFIX):].lower().split("__")
        node = raw
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise UserError(f"config: {name}: {part} is not a section")
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(value) if value != "" else None
        except yaml.YAMLError:
            node[parts[-1]] = value


def _build(cls: type, raw: Any, prefix: str, default: Any = None) -> Any:
    """`cls` from a mapping; keys not given keep `default`'s values (a section's own defaults,
    e.g. one family's refresh interval), else the class's."""
    if not isinstance(raw, dict):
        raise UserError(f"config: {prefix.rstrip('.') or 'top level'}: expected a mapping, got {_type_name(raw)}")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in known:
            raise UserError(f"config: unknown key '{prefix}{key}'")
    base = default if default is not None else cls()
    values = {}
    for f in dataclasses.fields(cls):
        if f.name in raw:
            values[f.name] = _check(hints[f.name], raw[f.name], prefix + f.name, getattr(base, f.name))
    return dataclasses.replace(base, **values)


def _check(hint: Any, value: Any, path: str, default: Any = None) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value if value is not None else {}, path + ".", default)
    if origin is typing.Union:  # Optional[X]
        if value is None:
            return None
        return _check(next(a for a in args if a is not type(None)), value, path)
    if origin in (list, List):
        if not isinstance(value, list):
            raise UserError(f"config: {path}: expected a list, got {_type_name(value)}")
        return [_check(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict):
        if not isinstance(value, dict):
            raise UserError(f"config: {path}: expected a mapping, got {_type_name(value)}")
        return {str(k): _check(args[1], v, f"{path}.{k}") for k, v in value.items()}
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # e.g. a header value or a numeric-looking name
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        raise UserError(f"config: {path}: expected {hint.__name__}, got {_type_name(value)} {value!r}")
    choices = CHOICES.get(path)
    if choices and value not in choices:
        raise UserError(f"config: {path}: must be one of {', '.join(choices)}, got {value!r}")
    bounds = RANGES.get(path.split("[")[0]) or RANGES.get(re.sub(r"^(families)\.\w+\.", r"\1.*.", path))
    if bounds is not None:
        _check_range(value, bounds, path)
    if path in LISTENS:
        parse_listen(value, f"config: {path}")
    return value


def _check_range(value: float, bounds: Tuple[float, Optional[float]], path: str) -> None:
    low, high = bounds
    if isinstance(value, float):
        if not math.isfinite(value):  # a wait of inf overflows, nan compares false
            raise UserError(f"config: {path}: must be a finite number, got {value!r}")
        if value <= low:
            raise UserError(f"config: {path}: must be > {low}, got {value!r}")
    elif value < low:
        raise UserError(f"config: {path}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise UserError(f"config: {path}: must be <= {high}, got {value!r}")


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "mapping",
            type(None): "null"}.get(type(value), type(value).__name__)
