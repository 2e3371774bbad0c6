"""The embedded SLO engine: every Snapshot counted into each SLO's history, evaluated every interval.

`on_snapshot` (a SnapshotFeed subscriber) reads each SLI from the Snapshot and adds its events
to the current bucket: state SLIs weigh each member by the seconds since the last Snapshot
(at most `MAX_GAP_TICKS` ticks: time the agent was not running is not counted), counter SLIs
add their increase. Budgeting `occurrences` counts those events; `timeslices` counts seconds,
a second being bad when less than `timeslice_target` of its events were good. Inside a
maintenance window (config, or CONFIG_DB TELEGEN_SLO_MAINTENANCE, e.g. from
`telegen-sonic slo maintenance start`) nothing is counted; inside an event window a bad event
costs (1 - objective) / (1 - event objective) of them. Every `interval_s` the engine's thread
evaluates each SLO over its windows (error ratio = bad / total, burn rate = error ratio /
(1 - objective), budget remaining = 1 - the window's burn rate; a composite's error ratio is
its components' weighted mean), runs the policies, persists what changed and publishes rows
for the next Snapshot (Snapshot.families: slo, slo_window, slo_alert, slo_consumer).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from ..records import Row, Snapshot
from . import sli as slis
from .actions import Actions
from .history import History
from .policy import BUDGET_EVENT, Fired, Policies, burn_alerts
from .spec import ObjectiveConfig, SloConfig, duration_text, epoch, seconds
from .store import Store, bucket_lines

log = logging.getLogger("telegen.slo")
MAX_GAP_TICKS = 3


@dataclass
class Status:
    """One SLO at one evaluation."""

    name: str
    objective: float
    window_s: float
    sli: Optional[float]  # over the SLO's window; None: no events yet
    remaining: float
    burn: Dict[float, float]  # window seconds -> burn rate (windows with events only)
    level: int = 0
    level_name: str = "ok"
    events: Optional[float] = None  # cumulative, budget units (None: composite)
    bad: Optional[float] = None
    consumers: List[Tuple[str, float]] = field(default_factory=list)  # (consumer, share of the budget)
    alerts: Dict[str, int] = field(default_factory=dict)
    maintenance: bool = False


class Tracked:
    """One SLO's definition, SLI, history and counters."""

    def __init__(self, o: ObjectiveConfig, cfg: SloConfig, catalogue):
        self.cfg, self.name, self.objective = o, o.name, o.objective
        self.window_s = seconds(o.window, "window")
        self.composite = o.sli.kind == "composite"
        self.sli = None if self.composite else slis.build(o.sli, catalogue)
        self.history = History(self.window_s, cfg.bucket_s)
        self.events = self.bad = 0.0
        self.fired = Fired()
        self.last_t: Optional[float] = None
        self.in_maintenance = False
        self.dirty_buckets: set = set()
        self.dirty_slots: set = set()
        self.critical = [(epoch(e.start, "start"), epoch(e.end, "end"), (1 - o.objective) / (1 - e.objective))
                         for e in o.events]
        self.maintenance = [(epoch(m.start, "start"), epoch(m.end, "end")) for m in cfg.maintenance
                            if not m.slos or o.name in m.slos]

    @property
    def definition(self) -> list:
        return [self.window_s, self.history.bucket_s]

    def weight(self, t: float) -> float:
        return max([w for start, end, w in self.critical if start <= t < end], default=1.0)

    def maintained(self, t: float, rows) -> bool:
        if any(start <= t < end for start, end in self.maintenance):
            return True
        for row in rows:
            v = row.values
            slos = [s for s in str(v.get("slo_maintenance.slos", "")).split(",") if s]
            if v.get("slo_maintenance.start", 0) <= t < v.get("slo_maintenance.end", 0) and (not slos or self.name in slos):
                return True
        return False


def units(members: slis.Members, state: bool, dt: float, budgeting: str, target: float
          ) -> Tuple[float, float, Dict[str, float]]:
    """(total, bad, bad per consumer) in budget units: events (state members weighed by `dt`),
    or for timeslices seconds, all bad when the good share of the moment is under `target`."""
    scale = dt if state else 1.0
    total = sum(t for t, _ in members.values()) * scale
    bad = sum(b for _, b in members.values()) * scale
    consumers = {c: b * scale for c, (_, b) in members.items() if b > 0}
    if budgeting == "occurrences" or total <= 0:
        return total, bad, consumers
    if 1 - bad / total >= target:
        return dt, 0.0, {}
    return dt, dt, {c: dt * b / bad for c, b in consumers.items()} if bad else {}


class SloEngine:
    def __init__(self, cfg: SloConfig, catalogue, tick_s: float, actions: Actions):
        self.cfg, self.actions = cfg, actions
        self.tracked = [Tracked(o, cfg, catalogue) for o in cfg.objectives]
        self.by_name = {t.name: t for t in self.tracked}
        self.alerts = burn_alerts(cfg.burn_alerts)
        self.policies = Policies(cfg.policies, self.alerts, cfg.hysteresis)
        self.windows = sorted({a.long_s for a in self.alerts} | {a.short_s for a in self.alerts})
        self.max_gap = MAX_GAP_TICKS * tick_s
        self.store = Store(cfg.state_dir)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="slo-engine", daemon=True)
        self._rows: Dict[str, List[Row]] = {}
        self.statuses: Dict[str, Status] = {}
        self.stats = {"slo_objectives": float(len(self.tracked)), "slo_evaluations_total": 0,
                      "slo_samples_total": 0, "slo_maintenance_samples_total": 0}

    # --- life -------------------------------------------------------------------------------
    def start(self, subscribe: Callable) -> None:
        self.restore()
        self.evaluate(fire=False)  # the restored state, exported before the first interval
        self._unsubscribe = subscribe(self.on_snapshot)
        self.actions.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(10)
            self.evaluate()  # what was counted since the last interval
        self.actions.stop()
        self.store.close()

    def _run(self) -> None:
        while not self._stop.wait(self.cfg.interval_s):
            try:
                self.evaluate()
            except Exception:
                log.exception("slo: evaluation failed")

    # --- counting ---------------------------------------------------------------------------
    def on_snapshot(self, snap: Snapshot) -> None:
        t = snap.timestamp
        rows = snap.families.get("slo_maintenance", ())
        with self._lock:
            for tr in self.tracked:
                if tr.composite:
                    continue
                members = tr.sli.members(snap)  # counters keep their last values even when not counted
                dt = 0.0 if tr.last_t is None else min(max(t - tr.last_t, 0.0), self.max_gap)
                tr.last_t = t
                tr.in_maintenance = tr.maintained(t, rows)
                if tr.in_maintenance:
                    self.stats["slo_maintenance_samples_total"] += 1
                    continue
                total, bad, consumers = units(members, tr.sli.state, dt, tr.cfg.budgeting, tr.cfg.timeslice_target)
                if total <= 0 and bad <= 0:
                    continue
                weight = tr.weight(t)
                if weight != 1.0:
                    bad, consumers = bad * weight, {c: b * weight for c, b in consumers.items()}
                tr.history.add(t, total, bad, consumers)
                tr.events += total
                tr.bad += bad
                tr.dirty_buckets.add(tr.history.bucket(t))
                if consumers:
                    tr.dirty_slots.add(int(t // tr.history.slot_s))
                self.stats["slo_samples_total"] += 1

    # --- evaluation -------------------------------------------------------------------------
    def _ratios(self, tr: Tracked, now: float, windows) -> Dict[float, float]:
        """Error ratio per window (windows without events left out)."""
        if not tr.composite:
            out = {}
            for w in windows:
                total, bad = tr.history.sums(now, w)
                if total > 0:
                    out[w] = bad / total
            return out
        parts = [(self._ratios(self.by_name[c.slo], now, windows), c.weight) for c in tr.cfg.components]
        out = {}
        for w in windows:
            have = [(r[w], weight) for r, weight in parts if w in r]
            if have:
                out[w] = sum(r * weight for r, weight in have) / sum(weight for _, weight in have)
        return out

    def _status(self, tr: Tracked, now: float) -> Status:
        budget = 1 - tr.objective
        ratios = self._ratios(tr, now, self.windows + [tr.window_s])
        burn = {w: r / budget for w, r in ratios.items()}
        period = ratios.get(tr.window_s)
        status = Status(tr.name, tr.objective, tr.window_s, None if period is None else 1 - period,
                        1.0 - burn.get(tr.window_s, 0.0), burn, maintenance=tr.in_maintenance)
        if tr.composite:
            comps = [(c.slo, self._ratios(self.by_name[c.slo], now, [tr.window_s]).get(tr.window_s), c.weight)
                     for c in tr.cfg.components]
            weights = sum(wt for _, r, wt in comps if r is not None) or 1.0
            status.consumers = sorted(((n, r * wt / weights / budget) for n, r, wt in comps if r), key=lambda c: -c[1])
        else:
            status.events, status.bad = tr.events, tr.bad
            total, _ = tr.history.sums(now, tr.window_s)
            if total > 0:
                status.consumers = [(c, b / (total * budget)) for c, b in
                                    tr.history.top_consumers(now, self.cfg.top_consumers)]
        return status

    def evaluate(self, now: Optional[float] = None, fire: bool = True) -> Dict[str, Status]:
        now = time.time() if now is None else now
        fired: List[Tuple[dict, Sequence[str]]] = []
        with self._lock:
            statuses = {}
            for tr in sorted(self.tracked, key=lambda t: t.composite):
                status = statuses[tr.name] = self._status(tr, now)
                crossed = self.policies.update(tr.fired, status.remaining, status.burn) if fire else ()
                status.level, status.level_name = self.policies.level(tr.fired)
                status.alerts = {a.key: int(bool(tr.fired.burn.get(a.key))) for a in self.alerts}
                fired += [(self._event(kind, what, status, now), what.actions) for kind, what in crossed]
            records = list(self._changes())
            compact = list(self._everything()) if self.store.due() else None
            self.statuses = statuses
            self._rows = rows(statuses.values())
            self.stats["slo_evaluations_total"] += 1
        for event, actions in fired:
            self.actions.fire(event, actions)
        self.actions.publish_state({s.name: state_fields(s) for s in statuses.values()})
        self.store.append(records)
        if compact is not None:
            self.store.compact(compact)
        return statuses

    def _event(self, kind: str, what, s: Status, now: float) -> dict:
        event = {"event": kind, "slo": s.name, "objective": s.objective, "remaining": round(s.remaining, 6),
                 "level": s.level, "level_name": s.level_name,
                 "burn_rates": {duration_text(w): round(r, 6) for w, r in sorted(s.burn.items())},
                 "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))}
        if kind == BUDGET_EVENT:
            event.update(policy=what.name, threshold=what.below)
        else:
            event.update(alert=what.name, long=duration_text(what.long_s), short=duration_text(what.short_s),
                         factor=what.factor)
        return event

    def rows(self) -> Dict[str, List[Row]]:
        with self._lock:
            return self._rows

    def counters(self) -> Dict[str, float]:
        with self._lock:
            out = dict(self.stats)
        return {**out, **self.store.counters, **self.actions.counters()}

    # --- persistence ------------------------------------------------------------------------
    def _changes(self) -> Iterator[dict]:
        """Records of what changed since the last evaluation (caller holds the lock)."""
        for tr in self.tracked:
            base = {"slo": tr.name, "d": tr.definition}
            h = tr.history
            buckets = [[n, float(h.total[n % h.size]), float(h.bad[n % h.size])] for n in sorted(tr.dirty_buckets)
                       if h.number[n % h.size] == n]
            yield from bucket_lines(base, buckets)
            for slot in sorted(tr.dirty_slots):
                yield dict(base, s=slot, c=h.slot(slot))
            yield dict(base, n=[tr.events, tr.bad], f={"budget": tr.fired.budget, "burn": tr.fired.burn})
            tr.dirty_buckets.clear()
            tr.dirty_slots.clear()

    def _everything(self) -> Iterator[dict]:
        for tr in self.tracked:
            base = {"slo": tr.name, "d": tr.definition}
            yield from bucket_lines(base, [list(b) for b in tr.history.buckets()])
            for slot in sorted(tr.history.consumers):
                yield dict(base, s=slot, c=tr.history.slot(slot))
            yield dict(base, n=[tr.events, tr.bad], f={"budget": tr.fired.budget, "burn": tr.fired.burn})

    def restore(self) -> None:
        for record in self.store.load():
            tr = self.by_name.get(record["slo"])
            if tr is None or record.get("d") != tr.definition:
                self.store.skipped()  # an SLO no longer configured, or whose window or bucket changed
                continue
            try:
                for n, total, bad in record.get("b", ()):
                    tr.history.put(int(n), float(total), float(bad))
                if "s" in record:
                    tr.history.put_slot(int(record["s"]), record["c"])
                if "n" in record:
                    tr.events, tr.bad = float(record["n"][0]), float(record["n"][1])
                    tr.fired = Fired({str(k): bool(v) for k, v in record["f"]["budget"].items()},
                                     {str(k): bool(v) for k, v in record["f"]["burn"].items()})
            except (TypeError, ValueError, KeyError, IndexError, AttributeError):
                self.store.skipped()
        loaded = self.store.counters["slo_state_records_loaded_total"]
        if loaded:
            log.info("slo: history restored", extra={"records": loaded, "dir": self.cfg.state_dir,
                                                      "skipped": self.store.counters["slo_state_records_skipped_total"]})


def state_fields(s: Status) -> Dict[str, str]:
    """STATE_DB TELEGEN_SLO_TABLE|<slo>: level, remaining, burn rates."""
    out = {"level": s.level_name, "level_index": str(s.level), "remaining": f"{s.remaining:.6f}",
           "objective": str(s.objective), "window": duration_text(s.window_s), "maintenance": str(s.maintenance).lower(),
           "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if s.sli is not None:
        out["sli"] = f"{s.sli:.6f}"
    out.update({f"burn_rate_{duration_text(w)}": f"{r:.6f}" for w, r in sorted(s.burn.items())})
    return out


def rows(statuses) -> Dict[str, List[Row]]:
    """The rows the catalogue's SLO entities export (sonic_agent.catalogue.slo)."""
    out: Dict[str, List[Row]] = {"slo": [], "slo_window": [], "slo_alert": [], "slo_consumer": []}
    for s in statuses:
        values = {"slo.objective": s.objective, "slo.remaining": s.remaining, "slo.level": s.level,
                  "slo.level_name": s.level_name, "slo.maintenance": int(s.maintenance),
                  "slo.window": duration_text(s.window_s)}
        if s.sli is not None:
            values["slo.sli"] = s.sli
        if s.events is not None:
            values.update({"slo.events": s.events, "slo.bad_events": s.bad})
        out["slo"].append(Row((s.name,), values))
        out["slo_window"] += [Row((s.name, duration_text(w)), {"slo.burn_rate": r}) for w, r in sorted(s.burn.items())]
        out["slo_alert"] += [Row((s.name, key), {"slo.alert_firing": on}) for key, on in s.alerts.items()]
        out["slo_consumer"] += [Row((s.name, c), {"slo.consumer_budget": share}) for c, share in s.consumers]
    return out


def engine_for(cfg, catalogue, current: Callable[[], Snapshot], exporters) -> SloEngine:
    """The agent's engine: OTLP events through the OTLP exporter when there is one, STATE_DB
    through the agent's one writer (the host namespace's STATE_DB)."""
    from ..sonic.dbconfig import load_database_config
    from ..sonic.writer import TableWriter
    from .actions import TABLE
    otlp = next((e for e in exporters if hasattr(e, "queue_events")), None)
    table = None
    if cfg.slo.state_db:
        databases = load_database_config(cfg.sonic.database_config)
        table = TableWriter(lambda: databases.connect("STATE_DB"), TABLE, databases.db("STATE_DB").separator)
    actions = Actions(cfg.slo.webhook, (lambda events: otlp.queue_events(current(), events)) if otlp else None, table)
    return SloEngine(cfg.slo, catalogue, cfg.tick_s, actions)
