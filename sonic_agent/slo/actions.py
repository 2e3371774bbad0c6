"""What a fired policy does: a log line, an OTLP log record, a webhook POST, a STATE_DB entry.

Log lines and OTLP records are made at once (OTLP requests join the exporter's own bounded
queue). Webhooks go through a bounded queue (`slo.webhook.queue_size`, the oldest dropped and
counted) to one sender thread: each event is POSTed as JSON, retried `retries` times on a
connection error, a timeout, 429 or 5xx, with capped jittered backoff that shutdown interrupts;
a 4xx other than 429 is not retried. STATE_DB `TELEGEN_SLO_TABLE|<slo>` is rewritten every
evaluation by a writer thread from the latest state only (a slow redis coalesces, never
queues); a `state_db` action adds the event to its SLO's entry (`last_event`, ...).
"""
from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from typing import Callable, Deque, Dict, Mapping, Optional, Sequence

from ..sonic.follower import backoff_delay
from .spec import WebhookConfig

log = logging.getLogger("telegen.slo")
TABLE = "TELEGEN_SLO_TABLE"


class Actions:
    def __init__(self, webhook: WebhookConfig, otlp_logs: Optional[Callable[[Sequence[dict]], None]] = None,
                 state_table=None):
        self.webhook, self._otlp, self._table = webhook, otlp_logs, state_table
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._posts: Deque[dict] = deque()
        self._state: Optional[Dict[str, Dict[str, str]]] = None
        self._last_events: Dict[str, Dict[str, str]] = {}  # slo -> its last state_db event fields
        self.stats = dict.fromkeys((
            "slo_events_fired_total", "slo_otlp_events_total", "slo_webhook_sent_total", "slo_webhook_retries_total",
            "slo_webhook_failed_total", "slo_webhook_dropped_total", "slo_state_db_writes_total",
            "slo_state_db_errors_total"), 0)
        self._threads = []
        if webhook.url:
            self._threads.append(threading.Thread(target=self._post_loop, name="slo-webhook", daemon=True))
        if state_table is not None:
            self._threads.append(threading.Thread(target=self._state_loop, name="slo-state-db", daemon=True))

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            t.join(timeout)

    def counters(self) -> Dict[str, int]:
        with self._cond:
            return dict(self.stats)

    def fire(self, event: dict, actions: Sequence[str]) -> None:
        """One fired policy: each of its actions."""
        with self._cond:
            self.stats["slo_events_fired_total"] += 1
        if "log" in actions:
            log.warning("slo %s: %s %s", event["slo"], event["event"], event.get("policy") or event.get("alert"),
                        extra={"slo_event": event})
        if "otlp" in actions and self._otlp is not None:
            self._otlp([event])
            with self._cond:
                self.stats["slo_otlp_events_total"] += 1
        if "webhook" in actions and self.webhook.url:
            with self._cond:
                if len(self._posts) >= self.webhook.queue_size:
                    self._posts.popleft()
                    self.stats["slo_webhook_dropped_total"] += 1
                self._posts.append(event)
                self._cond.notify_all()
        if "state_db" in actions:
            with self._cond:
                self._last_events[event["slo"]] = {
                    "last_event": event["event"], "last_event_name": str(event.get("policy") or event.get("alert")),
                    "last_event_time": event["time"]}

    def publish_state(self, entries: Mapping[str, Mapping[str, str]]) -> None:
        """The latest STATE_DB entries; the writer thread takes whatever is latest when it can."""
        if self._table is None:
            return
        with self._cond:
            self._state = {name: {**fields, **self._last_events.get(name, {})} for name, fields in entries.items()}
            self._cond.notify_all()

    def _state_loop(self) -> None:
        while True:
            with self._cond:
                while self._state is None and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                state, self._state = self._state, None
            try:
                self._table.replace(state)
                ok = True
            except Exception as exc:  # redis away: counted, the next evaluation writes again
                ok = False
                error = exc
            with self._cond:
                self.stats["slo_state_db_writes_total" if ok else "slo_state_db_errors_total"] += 1
                first_error = not ok and self.stats["slo_state_db_errors_total"] == 1
            if first_error:
                log.warning("slo: cannot write STATE_DB %s: %s", TABLE, error)

    def _post_loop(self) -> None:
        while True:
            with self._cond:
                while not self._posts and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                event = self._posts.popleft()
            self._post(event)

    def _post(self, event: dict) -> None:
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", **self.webhook.headers}
        reason = "stopped"
        for attempt in range(self.webhook.retries + 1):
            if attempt:
                with self._cond:
                    self.stats["slo_webhook_retries_total"] += 1
                if self._stop.wait(backoff_delay(attempt - 1, 30.0, base_s=self.webhook.backoff_s)):
                    break
            request = urllib.request.Request(self.webhook.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.webhook.timeout_s) as reply:
                    reply.read(4096)
                with self._cond:
                    self.stats["slo_webhook_sent_total"] += 1
                return
            except urllib.error.HTTPError as exc:
                reason = f"HTTP {exc.code}"
                if exc.code != 429 and exc.code < 500:
                    break
            except (urllib.error.URLError, OSError) as exc:
                reason = str(getattr(exc, "reason", exc))
        with self._cond:
            self.stats["slo_webhook_failed_total"] += 1
            first = self.stats["slo_webhook_failed_total"] == 1
        (log.warning if first else log.debug)("slo: webhook %s failed (%s); event dropped", self.webhook.url,
                                              reason)
