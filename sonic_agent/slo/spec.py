"""SLO definitions in the agent's config (`slo:`), as typed sections, and their checks.

`sonic_agent.config` builds these dataclasses from YAML like every other section (unknown keys
refused, types checked); `validate` then checks what types cannot say, each error one line
naming the field: an objective outside (0, 1), an unknown SLI kind or port selection, a window
shorter than the longest burn window, a catalogue metric that does not exist, ...
Durations are written `30d`, `6h`, `5m`, `90s` (or combined, `1h30m`); times ISO 8601.
"""
from __future__ import annotations

import fnmatch
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Dict, List, Optional

from ..errors import UserError

SLI_KINDS = ("availability", "error_ratio", "bgp", "cpu_path", "mirror_loss", "events", "bool", "composite")
BUDGETING = ("occurrences", "timeslices")
ACTIONS = ("log", "otlp", "webhook", "state_db")
MAX_OBJECTIVES = 32
MAX_BUCKETS = 100_000  # per SLO: window / bucket_s (24 bytes each in memory and on disk)
PORT_SELECTORS = ("uplinks", "description:", "kind:")  # besides names, aliases and globs
PORT_KINDS = ("port", "portchannel", "vlan")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass
class SliConfig:
    """What counts as good and bad. Which fields apply depends on `kind` (README: SLOs)."""

    kind: str = ""
    ports: List[str] = field(default_factory=list)  # availability, error_ratio: names, aliases, globs, selectors
    neighbors: List[str] = field(default_factory=list)  # bgp: names or addresses (globs); empty: every neighbor
    classes: List[str] = field(default_factory=list)  # cpu_path: probe classes; empty: every class
    sessions: List[str] = field(default_factory=list)  # mirror_loss: MIRROR_SESSION names (globs); empty: all
    error: List[str] = field(default_factory=list)  # events: catalogue counters counting bad events
    total: List[str] = field(default_factory=list)  # events: catalogue counters counting all events
    metric: Optional[str] = None  # bool: a 0/1 catalogue gauge
    good: int = 1  # bool: the value that is good
    match: Dict[str, str] = field(default_factory=dict)  # events, bool: Prometheus label -> glob
    consumer: Optional[str] = None  # events, bool: the label naming who consumed the budget


@dataclass
class ComponentConfig:
    slo: str = ""
    weight: float = 1.0


@dataclass
class EventWindowConfig:
    """A critical period: from `start` to `end` the stricter `objective` applies."""

    name: str = ""
    start: str = ""
    end: str = ""
    objective: float = 0.0


@dataclass
class MaintenanceConfig:
    """Planned maintenance: bad events from `start` to `end` do not count (`slos`: empty is all)."""

    start: str = ""
    end: str = ""
    slos: List[str] = field(default_factory=list)
    reason: str = ""


@dataclass
class ObjectiveConfig:
    name: str = ""
    service: str = "switch"  # Sloth's service label
    description: str = ""
    objective: float = 0.0
    window: str = "30d"
    budgeting: str = "occurrences"  # occurrences: every event counts; timeslices: every second does
    timeslice_target: float = 1.0  # timeslices: a second is good when at least this share of it is
    sli: SliConfig = field(default_factory=SliConfig)
    components: List[ComponentConfig] = field(default_factory=list)  # kind composite
    events: List[EventWindowConfig] = field(default_factory=list)


@dataclass
class BurnAlertConfig:
    """Multi-window multi-burn-rate: fires when both windows burn faster than `factor`."""

    name: str = "page"
    long: str = "1h"
    short: str = "5m"
    factor: float = 14.4
    actions: List[str] = field(default_factory=lambda: ["log", "state_db"])


@dataclass
class PolicyConfig:
    """A threshold on budget remaining: fires once when it drops to `below` or under."""

    name: str = ""
    below: float = 0.5
    actions: List[str] = field(default_factory=lambda: ["log", "state_db"])


@dataclass
class WebhookConfig:
    url: Optional[str] = None
    timeout_s: float = 5.0
    retries: int = 3  # after the first attempt; capped, jittered backoff between them
    backoff_s: float = 1.0
    queue_size: int = 64  # events waiting; past it the oldest is dropped (counted)
    headers: Dict[str, str] = field(default_factory=dict)


def _sloth_alerts() -> List[BurnAlertConfig]:
    """Sloth's (and the SRE workbook's) windows for a 30-day SLO."""
    return [BurnAlertConfig("page", "1h", "5m", 14.4), BurnAlertConfig("page", "6h", "30m", 6.0),
            BurnAlertConfig("ticket", "1d", "2h", 3.0), BurnAlertConfig("ticket", "3d", "6h", 1.0)]


def _sre_policies() -> List[PolicyConfig]:
    return [PolicyConfig("alert-oncall", 0.5), PolicyConfig("freeze-noncritical", 0.25),
            PolicyConfig("freeze-all", 0.0)]


@dataclass
class SloConfig:
    # History lives here: it must outlive the agent (a restart, a crash, a reboot), so not /run
    # (tmpfs) nor the container's own layer (an upgrade replaces it); see README: SLOs.
    state_dir: str = "/var/lib/telegen-sonic"
    interval_s: float = 10.0  # evaluate, persist and act: a crash loses at most this much history
    bucket_s: float = 60.0  # history resolution: window / bucket_s buckets per SLO
    hysteresis: float = 0.05  # a fired threshold re-arms only this far past it
    top_consumers: int = 5
    state_db: bool = True  # STATE_DB TELEGEN_SLO_TABLE|<slo>, every interval
    webhook: WebhookConfig = field(default_factory=WebhookConfig)
    burn_alerts: List[BurnAlertConfig] = field(default_factory=_sloth_alerts)
    policies: List[PolicyConfig] = field(default_factory=_sre_policies)
    maintenance: List[MaintenanceConfig] = field(default_factory=list)
    objectives: List[ObjectiveConfig] = field(default_factory=list)


def seconds(text: str, where: str) -> float:
    """'30d' -> 2592000.0; a UserError naming `where` otherwise."""
    text = str(text).strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise UserError(f"config: {where}: not a duration like 30d, 6h, 5m or 90s: {text!r}")
    value = float(sum(int(n) * _UNITS[u] for n, u in parts))
    if value <= 0:
        raise UserError(f"config: {where}: must be > 0, got {text!r}")
    return value


def duration_text(value: float) -> str:
    """2592000 -> '30d', 300 -> '5m': the largest unit that divides it (Sloth's window labels)."""
    value = int(value)
    for unit in ("w", "d", "h", "m"):
        if unit != "w" and value % _UNITS[unit] == 0:
            return f"{value // _UNITS[unit]}{unit}"
    return f"{value}s"


def epoch(text: str, where: str) -> float:
    """An ISO 8601 time (UTC when it names no zone) -> Unix seconds."""
    try:
        when = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"config: {where}: not an ISO 8601 time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.timestamp()


def _fraction(value: float, where: str, closed_low: bool = False, closed_high: bool = False) -> None:
    low_ok = value >= 0 if closed_low else value > 0
    high_ok = value <= 1 if closed_high else value < 1
    if not (math.isfinite(value) and low_ok and high_ok):
        interval = f"{'[' if closed_low else '('}0, 1{']' if closed_high else ')'}"
        raise UserError(f"config: {where}: must be in {interval}, got {value!r}")


def _port_selector(text: str, where: str) -> None:
    if text == "uplinks":
        return
    kind, sep, rest = text.partition(":")
    if sep:
        if kind == "description":
            try:
                re.compile(rest)
            except re.error as exc:
                raise UserError(f"config: {where}: not a regular expression ({exc})") from None
            return
        if kind == "kind" and rest in PORT_KINDS:
            return
        raise UserError(f"config: {where}: unknown port selection {text!r} (a name, alias or glob, uplinks, "
                        f"description:<regex> or kind:{'|'.join(PORT_KINDS)})")
    if not re.fullmatch(r"[\w./*?\[\]-]+", text):
        raise UserError(f"config: {where}: unknown port selection {text!r}")


# Which SliConfig fields each kind takes (the rest must stay unset).
KIND_FIELDS = {
    "availability": ("ports",), "error_ratio": ("ports",), "bgp": ("neighbors",), "cpu_path": ("classes",),
    "mirror_loss": ("sessions",), "events": ("error", "total", "match", "consumer", "ports"),
    "bool": ("metric", "good", "match", "consumer", "ports"), "composite": (),
}


def _check_sli(o: ObjectiveConfig, where: str, catalogue) -> None:
    sli = o.sli
    if sli.kind not in SLI_KINDS:
        raise UserError(f"config: {where}.sli.kind: unknown SLI kind {sli.kind!r} (one of {', '.join(SLI_KINDS)})")
    default = SliConfig()
    for name in ("ports", "neighbors", "classes", "sessions", "error", "total", "metric", "good", "match", "consumer"):
        if name not in KIND_FIELDS[sli.kind] and getattr(sli, name) != getattr(default, name):
            raise UserError(f"config: {where}.sli.{name}: does not apply to kind {sli.kind}")
    for i, selector in enumerate(sli.ports):
        _port_selector(selector, f"{where}.sli.ports[{i}]")
    if sli.kind in ("availability", "error_ratio") and not sli.ports:
        raise UserError(f"config: {where}.sli.ports: required for kind {sli.kind}")
    if sli.kind == "events":
        for name in ("error", "total"):
            if not getattr(sli, name):
                raise UserError(f"config: {where}.sli.{name}: required for kind events")
            for i, metric in enumerate(getattr(sli, name)):
                counters(catalogue, metric, f"{where}.sli.{name}[{i}]")
    if sli.kind == "bool":
        if not sli.metric:
            raise UserError(f"config: {where}.sli.metric: required for kind bool")
        counters(catalogue, sli.metric, f"{where}.sli.metric", gauge=True)
        if sli.good not in (0, 1):
            raise UserError(f"config: {where}.sli.good: must be 0 or 1, got {sli.good!r}")
    if sli.kind != "composite" and o.components:
        raise UserError(f"config: {where}.components: only for kind composite")


def counters(catalogue, name: str, where: str, gauge: bool = False) -> list:
    """The catalogue entries a name stands for: one entry by its name, or every entry of a
    Prometheus family (`sonic_port_errors_total`: rx and tx)."""
    from ..catalogue import COUNTER, GAUGE, STATE
    kinds = (GAUGE, STATE) if gauge else (COUNTER, GAUGE)
    stem = name[:-len("_total")] if name.endswith("_total") else name
    found = [m for m in catalogue if m.name == name or (m.prom and m.prom == stem)]
    if not found:
        raise UserError(f"config: {where}: no catalogue metric {name!r}")
    if any(m.kind not in kinds for m in found):
        want = "a 0/1 gauge" if gauge else "a counter"
        raise UserError(f"config: {where}: {name} is not {want}")
    return found


def _check_actions(actions: List[str], where: str, webhook: WebhookConfig, otlp_enabled: bool) -> None:
    for j, action in enumerate(actions):
        if action not in ACTIONS:
            raise UserError(f"config: {where}.actions[{j}]: unknown action {action!r} (one of {', '.join(ACTIONS)})")
        if action == "webhook" and not webhook.url:
            raise UserError(f"config: {where}.actions[{j}]: webhook needs slo.webhook.url")
        if action == "otlp" and not otlp_enabled:
            raise UserError(f"config: {where}.actions[{j}]: otlp needs export.otlp.enabled")


def validate(cfg: SloConfig, catalogue=None, otlp_enabled: bool = False) -> None:
    """Every check beyond types; raises UserError naming the field."""
    if catalogue is None:
        from ..catalogue import CATALOGUE as catalogue
    for name in ("interval_s", "bucket_s"):
        value = getattr(cfg, name)
        if not (math.isfinite(value) and 0 < value <= 86400):
            raise UserError(f"config: slo.{name}: must be in (0, 86400], got {value!r}")
    _fraction(cfg.hysteresis, "slo.hysteresis", closed_low=True)
    if not 1 <= cfg.top_consumers <= 100:
        raise UserError(f"config: slo.top_consumers: must be in 1..100, got {cfg.top_consumers}")
    w = cfg.webhook
    if w.url is not None and not re.match(r"https?://", w.url):
        raise UserError(f"config: slo.webhook.url: must start with http:// or https://, got {w.url!r}")
    for name, low, high in (("timeout_s", 0, 600), ("backoff_s", 0, 3600)):
        if not (0 < getattr(w, name) <= high):
            raise UserError(f"config: slo.webhook.{name}: must be in (0, {high}], got {getattr(w, name)!r}")
    if not 0 <= w.retries <= 20:
        raise UserError(f"config: slo.webhook.retries: must be in 0..20, got {w.retries}")
    if not 1 <= w.queue_size <= 4096:
        raise UserError(f"config: slo.webhook.queue_size: must be in 1..4096, got {w.queue_size}")
    longest = 0.0
    for i, alert in enumerate(cfg.burn_alerts):
        where = f"slo.burn_alerts[{i}]"
        if not _NAME.fullmatch(alert.name):
            raise UserError(f"config: {where}.name: letters, digits, _ . - only, got {alert.name!r}")
        long_s, short_s = seconds(alert.long, where + ".long"), seconds(alert.short, where + ".short")
        if short_s >= long_s:
            raise UserError(f"config: {where}.short: must be shorter than long ({alert.short} >= {alert.long})")
        if not (math.isfinite(alert.factor) and alert.factor > 0):
            raise UserError(f"config: {where}.factor: must be > 0, got {alert.factor!r}")
        longest = max(longest, long_s)
        _check_actions(alert.actions, where, w, otlp_enabled)
    for i, policy in enumerate(cfg.policies):
        where = f"slo.policies[{i}]"
        if not _NAME.fullmatch(policy.name):
            raise UserError(f"config: {where}.name: letters, digits, _ . - only, got {policy.name!r}")
        _fraction(policy.below, where + ".below", closed_low=True)
        _check_actions(policy.actions, where, w, otlp_enabled)
    if len(cfg.objectives) > MAX_OBJECTIVES:
        raise UserError(f"config: slo.objectives: at most {MAX_OBJECTIVES}, got {len(cfg.objectives)}")
    names = {}
    for i, o in enumerate(cfg.objectives):
        where = f"slo.objectives[{i}]"
        if not _NAME.fullmatch(o.name):
            raise UserError(f"config: {where}.name: letters, digits, _ . - only (up to 64), got {o.name!r}")
        if o.name in names:
            raise UserError(f"config: {where}.name: {o.name!r} twice")
        names[o.name] = o
        _fraction(o.objective, where + ".objective")
        window = seconds(o.window, where + ".window")
        if window < longest:
            raise UserError(f"config: {where}.window: {o.window} is shorter than the longest burn window "
                            f"({duration_text(longest)})")
        if window / cfg.bucket_s > MAX_BUCKETS:
            raise UserError(f"config: {where}.window: {o.window} is more than {MAX_BUCKETS} buckets of "
                            f"slo.bucket_s {cfg.bucket_s:g}s")
        if o.budgeting not in BUDGETING:
            raise UserError(f"config: {where}.budgeting: must be one of {', '.join(BUDGETING)}, got {o.budgeting!r}")
        _fraction(o.timeslice_target, where + ".timeslice_target", closed_high=True)
        _check_sli(o, where, catalogue)
        for j, event in enumerate(o.events):
            at = f"{where}.events[{j}]"
            if epoch(event.end, at + ".end") <= epoch(event.start, at + ".start"):
                raise UserError(f"config: {at}.end: must be after start")
            _fraction(event.objective, at + ".objective")
            if event.objective <= o.objective:
                raise UserError(f"config: {at}.objective: must be stricter than the SLO's {o.objective}, "
                                f"got {event.objective}")
    for i, o in enumerate(cfg.objectives):
        where = f"slo.objectives[{i}]"
        if o.sli.kind != "composite":
            continue
        if not o.components:
            raise UserError(f"config: {where}.components: required for kind composite")
        for j, c in enumerate(o.components):
            at = f"{where}.components[{j}]"
            part = names.get(c.slo)
            if part is None or part.sli.kind == "composite":
                raise UserError(f"config: {at}.slo: no SLO {c.slo!r} that is not itself composite")
            if seconds(part.window, at) != seconds(o.window, where):
                raise UserError(f"config: {at}.slo: {c.slo} has window {part.window}, the composite {o.window}")
            if not (math.isfinite(c.weight) and c.weight > 0):
                raise UserError(f"config: {at}.weight: must be > 0, got {c.weight!r}")
    for i, m in enumerate(cfg.maintenance):
        where = f"slo.maintenance[{i}]"
        if epoch(m.end, where + ".end") <= epoch(m.start, where + ".start"):
            raise UserError(f"config: {where}.end: must be after start")
        for j, name in enumerate(m.slos):
            if name not in names:
                raise UserError(f"config: {where}.slos[{j}]: no SLO {name!r}")


def glob_match(patterns: List[str], *texts: str) -> bool:
    """No patterns: everything; else any text matching any pattern."""
    return not patterns or any(fnmatch.fnmatchcase(t, p) for p in patterns for t in texts if t)
