"""The agent's configuration: typed sections, loaded from YAML, overridden by TELEGEN_* variables.

Every section is a dataclass; `load_config` walks the YAML mapping against the dataclass
fields and raises `UserError` naming the dotted field path on an unknown key or a wrong type.
An environment variable `TELEGEN_<SECTION>__<FIELD>` (double underscore between levels,
e.g. `TELEGEN_EXPORT__PROMETHEUS__LISTEN=0.0.0.0:9110`) overrides a field; its value is read
as a YAML scalar and type-checked like the file.
"""
from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
import mmap
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from . import config_yaml
from .errors import UserError
from .listen import parse_listen
from .slo.spec import SloConfig, validate as validate_slo

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
class PrivacyConfig:
    """What an exporter may see (sonic_agent.privacy): the top-level section, and per exporter
    (`export.<name>.privacy`) the keys that differ from it."""

    key_file: Optional[str] = None  # 32 bytes: the Crypto-PAn AES key, then its pad; also keys the hashes
    anonymize: bool = False  # every exported IP address, prefix-preserving (Crypto-PAn)
    exclude: List[str] = field(default_factory=list)  # prefixes whose flows and talkers are never exported
    hash: List[str] = field(default_factory=list)  # text fields replaced by a keyed hash: device.hostname, ...
    drop: List[str] = field(default_factory=list)  # text fields left out
    cache_entries: int = 65536  # anonymised addresses kept (LRU)


@dataclass
class PrometheusConfig:
    enabled: bool = True
    listen: str = "127.0.0.1:9110"
    max_series: int = 50000
    privacy: Optional[PrivacyConfig] = None  # None: the top-level privacy section


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
    privacy: Optional[PrivacyConfig] = None


@dataclass
class GnmiConfig:
    enabled: bool = False
    listen: str = "127.0.0.1:50051"
    username: Optional[str] = None
    password: Optional[str] = None
    max_subscriptions: int = 64  # Subscribe RPCs open at once; Get and Capabilities keep their own room
    max_subscriptions_per_client: int = 8  # a client: its IPv4 address or IPv6 /64
    max_paths: int = 64  # paths of one Get, subscriptions of one Subscribe
    max_response_bytes: int = 16 << 20  # one Get's reply; a client's Get replies per 10 s
    first_request_timeout_s: float = 10.0  # a Subscribe must send its request within this
    idle_timeout_s: float = 300.0  # a POLL subscription without a poll, a connection without an RPC
    tls: ServerTlsConfig = field(default_factory=ServerTlsConfig)
    privacy: Optional[PrivacyConfig] = None


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


def next_refresh(now: float, refresh_s: float) -> float:
    """When a source read every `refresh_s` is next due: 95% of it, so one refreshed as often as
    the tick is read at every tick despite timer jitter."""
    return now + 0.95 * refresh_s


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
    slo: FamilyConfig = field(default_factory=_family(refresh_s=1.0, max_entries=256))  # CONFIG_DB TELEGEN_SLO_MAINTENANCE


@dataclass
class HostConfig:
    """The switch's Linux from /proc (sonic_agent.hoststats): `proc` is the host's /proc and
    `root` the host's / as the agent sees them (a container mounts them, e.g. /host/proc)."""

    enabled: bool = True
    refresh_s: float = 1.0
    proc: str = "/proc"
    root: str = "/"


@dataclass
class JobsConfig:
    """On-demand mirror jobs (sonic_agent.jobs): the API, what a job writes to CONFIG_DB, bounds."""

    enabled: bool = False
    listen: str = "127.0.0.1:9120"  # plain HTTP only on loopback; elsewhere tls.cert/key
    token: Optional[str] = None  # bearer token; or token_file (its first line)
    token_file: Optional[str] = None
    tls: ServerTlsConfig = field(default_factory=ServerTlsConfig)  # client_ca: mTLS (then no token needed)
    max_concurrent_jobs: int = 2  # one more is answered 429
    default_duration_s: float = 120.0
    max_duration_s: float = 3600.0
    topk_flows: int = 1024  # the default and the most a job may ask
    keep_results_s: float = 3600.0  # an ended job's results are kept this long,
    keep_results: int = 16  # and at most this many ended jobs
    journal: str = "/var/lib/telegen-sonic/jobs.json"  # what a job wrote, for the next start after a crash
    collector_ip: Optional[str] = None  # the sessions' dst_ip; default: mirror.interface's first address
    gre_type: str = "0x22eb"  # ERSPAN III carries each copy's direction; 0x88be is ERSPAN II
    dscp: int = 8
    ttl: int = 255
    queue: Optional[int] = None
    span_port: Optional[str] = None  # span_method span: the session's dst_port (none: refused)
    capture_bytes: int = 4 << 20  # per job: the capture's bound (frames past it are counted, not kept)
    snap_len: int = 256  # bytes kept of each mirrored frame
    privacy: Optional[PrivacyConfig] = None  # what the API may show (results, capture); None: the top-level section


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
    slo: SloConfig = field(default_factory=SloConfig)  # SLOs, error budgets and their policies (sonic_agent.slo)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)


CHOICES = {
    "log_level": ("debug", "info", "warning", "error"),
    "log_format": ("json", "text"),
    "mirror.mode": ("xdp", "afpacket"),
    "export.otlp.protocol": ("grpc", "http"),
    "export.otlp.compression": ("gzip", "none"),
    "export.otlp.temporality": ("cumulative", "delta"),
    "jobs.gre_type": ("0x88be", "0x22eb"),
}

# Numeric bounds (low, high), both inclusive; a list's items share the list's entry. Every
# number has both: an interval's floor keeps a loop from spinning a core, its ceiling keeps a
# wait within what threading and the clocks take (1e300 overflows them), a size's ceiling keeps
# a typo from sizing a map or ring the host cannot hold or a kernel field cannot carry.
RANGES: Dict[str, Tuple[float, float]] = {
    "tick_s": (0.1, 3600),
    "sonic.reconnect_max_s": (0.1, 3600),
    "probes.grpc_ports": (1, 65535),
    "probes.top_talkers": (1, 1 << 20),
    "probes.top_talker_sample": (0, 1 << 16),  # 0: no top-talker tracking; the kernel's field is 32 bits
    "probes.read_interval_s": (0.1, 3600),
    "mirror.max_flows": (1, 1 << 22),
    "mirror.top_flows": (1, 1 << 16),
    "mirror.vendor_header_len": (0, 255),
    "mirror.ring_blocks": (1, 1024),
    "mirror.ring_block_kb": (PAGE_KB, 1 << 16),
    "export.prometheus.max_series": (1, 1 << 24),
    "export.otlp.interval_s": (0.1, 86400),
    "export.otlp.timeout_s": (0.1, 600),
    "export.otlp.queue_size": (1, 1 << 16),
    "export.otlp.max_backoff_s": (0.1, 3600),
    "export.gnmi.max_subscriptions": (1, 1024),
    "export.gnmi.max_subscriptions_per_client": (1, 1024),
    "export.gnmi.max_paths": (1, 4096),
    "export.gnmi.max_response_bytes": (1 << 16, 1 << 30),
    "export.gnmi.first_request_timeout_s": (0.1, 600),
    "export.gnmi.idle_timeout_s": (1, 86400),
    "families.*.refresh_s": (0.1, 86400),
    "families.*.max_entries": (1, 1 << 22),
    "host.refresh_s": (0.1, 86400),
    "privacy.cache_entries": (1, 1 << 22),
    "jobs.max_concurrent_jobs": (1, 64),
    "jobs.default_duration_s": (1, 7 * 86400),
    "jobs.max_duration_s": (1, 7 * 86400),
    "jobs.topk_flows": (1, 1 << 16),
    "jobs.keep_results_s": (1, 30 * 86400),
    "jobs.keep_results": (1, 1024),
    "jobs.dscp": (0, 63),
    "jobs.ttl": (1, 255),
    "jobs.queue": (0, 15),
    "jobs.capture_bytes": (0, 1 << 30),
    "jobs.snap_len": (64, 256),
}
RING_MAX_KB = 1 << 20  # mirror.ring_blocks x mirror.ring_block_kb: resident, so at most 1 GiB
YAML12_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")
LISTENS = ("export.prometheus.listen", "export.gnmi.listen", "jobs.listen")
EXPORTERS = ("prometheus", "otlp", "gnmi")


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
        raw = config_yaml.read(path) or {}
        if not isinstance(raw, dict):
            raise UserError(f"config: {path}: top level must be a mapping")
    _apply_env(raw, os.environ if environ is None else environ)
    cfg = _build(AgentConfig, raw, "")
    own_privacy = [(f"export.{name}", getattr(cfg.export, name), (raw.get("export") or {}).get(name))
                   for name in EXPORTERS] + [("jobs", cfg.jobs, raw.get("jobs"))]
    for where, section, own in own_privacy:  # a section's own privacy keys override the top-level section's
        if (own or {}).get("privacy") is not None:
            section.privacy = _build(PrivacyConfig, own["privacy"], f"{where}.privacy.", cfg.privacy)
    if cfg.mirror.enabled and not cfg.mirror.interface:
        raise UserError("config: mirror.interface: required when mirror.enabled is true")
    if cfg.mirror.ring_block_kb % PAGE_KB:
        raise UserError(f"config: mirror.ring_block_kb: must be a multiple of the page size ({PAGE_KB} KB), "
                        f"got {cfg.mirror.ring_block_kb}")
    if cfg.mirror.ring_blocks * cfg.mirror.ring_block_kb > RING_MAX_KB:
        raise UserError(f"config: mirror.ring_blocks: {cfg.mirror.ring_blocks} x mirror.ring_block_kb "
                        f"{cfg.mirror.ring_block_kb} exceeds {RING_MAX_KB} KB")
    validate_slo(cfg.slo, otlp_enabled=cfg.export.otlp.enabled)
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
            node[parts[-1]] = config_yaml.parse(value, f"config: {name}") if value != "" else None
        except UserError:  # not YAML: the text as it is (type-checked like any other value)
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
            raise UserError(f"config: unknown key '{prefix}{str(key)[:60]}'")
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
    if hint is float and isinstance(value, str) and YAML12_FLOAT.fullmatch(value):
        value = float(value)  # 1e-9: YAML 1.1 (PyYAML) wants a dot, YAML 1.2 and people do not
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            value = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise UserError(f"config: {path}: must be a finite number, got {_short(value)}") from None
    if hint is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # e.g. a header value or a numeric-looking name
    if not isinstance(value, hint) or (hint is not bool and isinstance(value, bool)):
        raise UserError(f"config: {path}: expected {hint.__name__}, got {_got(value)}")
    if isinstance(value, str) and "\0" in value:
        raise UserError(f"config: {path}: contains a NUL byte")
    rule = _rule_path(path)
    choices = CHOICES.get(rule)
    if choices and value not in choices:
        raise UserError(f"config: {path}: must be one of {', '.join(choices)}, got {_short(value)}")
    bounds = RANGES.get(rule)
    if bounds is not None:
        _check_range(value, bounds, path)
    if rule in LISTENS:
        parse_listen(value, f"config: {path}")
    if rule == "privacy.exclude":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise UserError(f"config: {path}: must be an IP prefix (10.0.0.0/8, 2001:db8::/32), "
                            f"got {_short(value)}") from None
    return value


def _rule_path(path: str) -> str:
    """The key whose rules a value follows: a list's items the list's, every family's the
    families.* ones, an exporter's privacy keys the top-level section's."""
    path = path.split("[")[0]
    path = re.sub(r"^families\.\w+\.", "families.*.", path)
    return re.sub(r"^(?:export\.\w+|jobs)\.privacy\.", "privacy.", path)


def _check_range(value: float, bounds: Tuple[float, float], path: str) -> None:
    low, high = bounds
    if isinstance(value, float) and not math.isfinite(value):  # a wait of inf overflows, nan compares false
        raise UserError(f"config: {path}: must be a finite number, got {value!r}")
    if value < low:
        raise UserError(f"config: {path}: must be >= {low}, got {_short(value)}")
    if value > high:
        raise UserError(f"config: {path}: must be <= {high}, got {_short(value)}")


def _short(value: Any) -> str:
    """A scalar as an error shows it: its repr, cut (a YAML value can be as large as the file)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"a {value.bit_length()}-bit number"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _got(value: Any) -> str:
    """What a value of the wrong type was: its type, and a scalar's (cut) repr."""
    if isinstance(value, (list, dict)):
        return _type_name(value)
    return f"{_type_name(value)} {_short(value)}"


def _type_name(value: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "string", list: "list", dict: "mapping",
            type(None): "null"}.get(type(value), type(value).__name__)
