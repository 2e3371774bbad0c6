"""On-demand mirror jobs: validate, write the mirror to CONFIG_DB, count its flows, tear it down.

A job's life: created (checked against the request and the switch; nothing is written for a
refused one) -> `running` (its MIRROR_SESSION, and ACL table and rules for filters, in
CONFIG_DB, recorded in the journal first) -> at `duration_sec`, on DELETE or when the agent
stops (SIGTERM), its entries are removed -> `stopping` for `drain_s` (copies already on the
wire are still counted) -> `completed` (expired) or `stopped` (deleted); an ended job keeps
its results for `jobs.keep_results_s`, at most `jobs.keep_results` of them. After a SIGKILL,
the next start removes what the dead instance wrote (journal and job prefixes) before
anything else, within a redis round trip or two: those jobs are not resumed.

Results come from the Snapshots (jobs.results) and the mirror source's capture
(jobs.capture); the manager follows the feed, never the sources. What leaves through the API
obeys `jobs.privacy` (flows and the capture), what goes to OTLP the OTLP exporter's policy.
"""
from __future__ import annotations

import dataclasses
import logging
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

from erspan.streams import Stream

from ..config import JobsConfig
from ..errors import UserError
from ..mirror.capture import CapturedFrame
from ..privacy.policy import PrivacyPolicy
from ..records import FlowRecord, Snapshot
from ..sonic.dbconfig import DatabaseConfig
from ..sonic.follower import REDIS_ERRORS
from ..sonic.model import SwitchModel
from .capture import JobCapture
from .journal import Journal, remove_leftovers
from .results import JobResults
from .spec import JobError, JobSpec, bad, parse_spec
from .switch import JobWriter, entries, session_name

log = logging.getLogger("telegen.jobs")
RUNNING, STOPPING, COMPLETED, STOPPED = "running", "stopping", "completed", "stopped"
TRACKED_PER_TOPK = 4  # a job follows up to 4 x topk_flows flows and shows the top topk_flows
LEFTOVER_RETRY_S = 2.0


def iso(ts: Optional[float]) -> Optional[str]:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat().replace("+00:00", "Z") if ts else None


@dataclass
class Job:
    id: str
    spec: JobSpec
    port: str  # the canonical name (an alias given resolves to it)
    namespace: str
    stream: Stream
    keys: List[str]
    results: JobResults
    capture: JobCapture
    created: float = field(default_factory=time.time)
    status: str = RUNNING
    ends: float = 0.0  # when it expires (running) or stops draining (stopping)
    ended: Optional[float] = None
    end_reason: str = ""
    otlp_exported: bool = False

    @property
    def session(self) -> str:
        return session_name(self.id)

    @property
    def done(self) -> bool:
        return self.status in (COMPLETED, STOPPED)

    def status_json(self) -> dict:
        """The original API's JobStatus fields, then the rest of what the job is."""
        return {"job_id": self.id, "status": self.status, "started_at": iso(self.created),
                "expires_at": iso(self.created + self.spec.duration_s), "ended_at": iso(self.ended),
                "end_reason": self.end_reason or None, "port": self.port, "interface": self.port,
                "mirror_session": self.session, "config_db_keys": self.keys, "request": self.spec.as_dict()}


class JobManager:
    def __init__(self, cfg: JobsConfig, model: SwitchModel, namespaces: Sequence[DatabaseConfig],
                 current: Callable[[], Snapshot], collector_ip: Optional[str], drain_s: float,
                 set_capture: Callable[[Sequence[Stream], int], None] = lambda streams, snap_len: None,
                 otlp_export: Optional[Callable[[List[FlowRecord], str], None]] = None,
                 privacy: Optional[PrivacyPolicy] = None, otlp_privacy: Optional[PrivacyPolicy] = None):
        if cfg.default_duration_s > cfg.max_duration_s:
            raise UserError(f"config: jobs.default_duration_s: must be <= jobs.max_duration_s "
                            f"({cfg.max_duration_s:g}), got {cfg.default_duration_s:g}")
        self.cfg, self.model, self._current = cfg, model, current
        self.collector_ip, self.drain_s = collector_ip, drain_s
        self._set_capture, self._otlp_export = set_capture, otlp_export
        self.privacy, self._otlp_privacy = privacy, otlp_privacy  # jobs.privacy; export.otlp's for OTLP
        self._writers = {c.namespace: JobWriter(c) for c in namespaces}
        self.journal = Journal(cfg.journal)
        self.gre_type = int(cfg.gre_type, 16)
        self.watch_limit = cfg.max_concurrent_jobs * TRACKED_PER_TOPK * cfg.topk_flows
        self._lock = threading.Condition()
        self._jobs: Dict[str, Job] = {}
        self._stopping = False
        self._cleaned = False  # what a predecessor left is gone (remove_leftovers)
        self._thread = threading.Thread(target=self._run, name="jobs", daemon=True)
        self.stats = dict.fromkeys(("jobs_created_total", "jobs_refused_total", "jobs_limited_total",
                                    "jobs_completed_total", "jobs_stopped_total", "jobs_leftovers_removed_total",
                                    "jobs_config_db_errors_total"), 0)

    # --- lifecycle ---------------------------------------------------------------------------
    def remove_leftovers(self, removed: Optional[int] = None) -> bool:
        """What a dead instance left (journal.remove_leftovers), unless `removed` says the agent
        did it already, before its heavy imports. If redis cannot be reached, the jobs thread
        retries, and no job starts until it is done."""
        if removed is None:
            try:
                removed = remove_leftovers(self.journal, self._writers)
            except REDIS_ERRORS as exc:
                log.warning("jobs: cannot clean CONFIG_DB yet, retrying", extra={"error": str(exc)})
                return False
        with self._lock:
            self.stats["jobs_leftovers_removed_total"] += removed
            self._cleaned = True
        return True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """SIGTERM: every running job's entries removed, at once (no drain)."""
        with self._lock:
            self._stopping = True
            running = [j for j in self._jobs.values() if j.status in (RUNNING, STOPPING)]
            self._lock.notify_all()
        for job in running:
            self._remove_entries(job)
            self._finish(job, STOPPED, "agent stopped")
        if self._thread.is_alive():
            self._thread.join(5)
        for writer in self._writers.values():
            writer.close()

    # --- the API's operations ----------------------------------------------------------------
    def create(self, body: object) -> Job:
        try:
            job = self._create(body)
        except JobError as exc:
            with self._lock:
                self.stats["jobs_limited_total" if exc.status == 429 else "jobs_refused_total"] += 1
            raise
        log.info("job started", extra={"job": job.id, "port": job.port, "session": job.session,
                                       "duration_s": job.spec.duration_s})
        return job

    def _create(self, body: object) -> Job:
        spec = parse_spec(body, self.cfg)
        port, namespace, indexes = self._resolve_port(spec.port)
        spec = dataclasses.replace(spec, port=port)  # an alias given: CONFIG_DB names the port
        writer = self._writers.get(namespace)
        if writer is None:
            raise JobError(409, f"port: {port} is in namespace {namespace!r}, which the agent does not follow")
        if spec.span_method == "span" and not self.cfg.span_port:
            raise bad("span_method: span needs jobs.span_port (the port the copies go to)")
        if spec.otlp_export and self._otlp_export is None:
            raise bad("otlp_export: export.otlp is not enabled")
        src_ip = self._loopback_ip(namespace)
        if spec.span_method == "erspan" and (src_ip is None or self.collector_ip is None):
            raise JobError(409, "span_method: erspan needs a Loopback0 address (src_ip) and jobs.collector_ip "
                                "or an address on mirror.interface (dst_ip)")
        job_id = secrets.token_hex(4)
        job_entries = entries(job_id, spec, self.cfg, src_ip or "", self.collector_ip or "", writer.separator)
        stream = (src_ip or "", self.collector_ip or "", self.gre_type)
        with self._lock:
            if not self._cleaned:
                raise JobError(503, "CONFIG_DB: what a previous instance left is not removed yet (redis unreachable)")
            conflict = self._mirrored_by(port, set(indexes.values()), writer)
            if conflict:
                raise bad(f"port: {port} is mirrored already ({conflict})")
            if sum(j.status == RUNNING for j in self._jobs.values()) >= self.cfg.max_concurrent_jobs:
                raise JobError(429, f"max_concurrent_jobs: {self.cfg.max_concurrent_jobs} jobs are running")
            draining = [j for j in self._jobs.values() if j.status == STOPPING and j.port == port]
            results = JobResults(stream, indexes, session_name(job_id), spec.sample_rate, spec.topk_flows,
                                 TRACKED_PER_TOPK * spec.topk_flows)
            results.baseline(self._current())
            job = Job(job_id, spec, port, namespace, stream, [k for k, _ in job_entries], results,
                      JobCapture(self.cfg.capture_bytes, self.cfg.snap_len,
                                 self.privacy.frame if self.privacy is not None else None), created=results.started)
            job.ends = job.created + spec.duration_s
            try:
                self.journal.record(job_id, namespace, job.keys, job.ends)
            except UserError as exc:
                raise JobError(503, str(exc)) from None
            try:
                writer.write(job_entries)
            except REDIS_ERRORS as exc:
                self.journal.forget(job_id)
                self.stats["jobs_config_db_errors_total"] += 1
                raise JobError(503, f"CONFIG_DB: cannot write the mirror session ({exc})") from None
            self._jobs[job_id] = job
            self.stats["jobs_created_total"] += 1
            self._lock.notify_all()
        for old in draining:  # a new job on its port: the old one's counts end here
            self._finish(old, COMPLETED if old.end_reason == "expired" else STOPPED, "")
        self._update_capture()
        return job

    def jobs(self) -> List[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobError(404, f"job_id: no job {job_id!r}")
        return job

    def delete(self, job_id: str) -> Job:
        """Stop a running job (its entries removed now, results kept); forget an ended one."""
        job = self.get(job_id)
        with self._lock:
            if job.status != RUNNING:
                if job.status != STOPPING:
                    del self._jobs[job_id]
                return job
            job.status, job.end_reason, job.ended = STOPPING, "deleted", time.time()
            job.ends = job.ended + self.drain_s
        self._remove_entries(job)
        with self._lock:
            self._lock.notify_all()
        log.info("job stopped", extra={"job": job.id})
        return job

    # --- what feeds the jobs -----------------------------------------------------------------
    def watched_streams(self) -> List[Stream]:
        """Streams whose flows the Snapshot carries in full: those of jobs not done, and the one
        the next job would use (so its baseline is in the Snapshot before it starts)."""
        streams = {}
        for namespace in self._writers:
            src_ip = self._loopback_ip(namespace)
            if src_ip and self.collector_ip:
                streams[(src_ip, self.collector_ip, self.gre_type)] = None
        with self._lock:
            for job in self._jobs.values():
                if not job.done:
                    streams[job.stream] = None
        return list(streams)

    def on_snapshot(self, snapshot: Snapshot) -> None:
        with self._lock:
            live = [j for j in self._jobs.values() if not j.done]
        for job in live:
            job.results.observe(snapshot)

    def on_captured(self, frame: CapturedFrame) -> None:
        with self._lock:
            live = [j for j in self._jobs.values() if not j.done and j.stream == frame.stream]
        for job in live:
            if (frame.port_index in job.results.port_indexes if frame.port_index is not None
                    else len(live) == 1):
                job.capture.add(frame)

    def agent_counters(self) -> Dict[str, float]:
        with self._lock:
            out = {name: float(v) for name, v in self.stats.items()}
            out["jobs_running"] = float(sum(j.status == RUNNING for j in self._jobs.values()))
            out["jobs_results_kept"] = float(sum(j.done for j in self._jobs.values()))
            jobs = list(self._jobs.values())
        out["jobs_capture_dropped_total"] = float(sum(j.capture.dropped for j in jobs))
        out["jobs_capture_excluded_total"] = float(sum(j.capture.excluded for j in jobs))
        out["jobs_flows_untracked_total"] = float(sum(j.results.flows_untracked for j in jobs))
        return out

    # --- internals ---------------------------------------------------------------------------
    def _resolve_port(self, name: str) -> Tuple[str, str, Mapping[int, str]]:
        """(the port's name, its namespace, {ERSPAN port index: member port}) of a port or PortChannel."""
        port = self.model.port(name)
        if port is not None:
            lag = self.model.portchannel_of(port.name)
            if lag is not None:
                raise bad(f"port: {port.name} is a member of {lag.name}; mirror {lag.name}")
            if port.index is None:
                raise bad(f"port: {port.name} has no CONFIG_DB index (the copies name their port by it)")
            return port.name, port.namespace, {port.index: port.name}
        lag = next((p for p in self.model.portchannels() if p.name == name), None)
        if lag is None:
            raise bad(f"port: unknown port {name!r}")
        members = [m for m in (self.model.port(n, lag.namespace) for n in lag.members) if m and m.index is not None]
        if not members:
            raise bad(f"port: {lag.name} has no member ports")
        return lag.name, lag.namespace, {m.index: m.name for m in members}

    def _mirrored_by(self, port: str, members: set, writer: JobWriter) -> Optional[str]:
        """Who mirrors the port (or a member, or its PortChannel) already; caller holds the lock."""
        names = {port} | members
        for session in self.model.mirror_sessions():
            if names & set(session.src_ports):
                return f"MIRROR_SESSION {session.name}"
        for job in self._jobs.values():
            if job.status == RUNNING and ({job.port} | set(job.results.port_indexes.values())) & names:
                return f"job {job.id}"
        try:
            bindings = writer.mirror_acl_bindings()
        except REDIS_ERRORS as exc:
            raise JobError(503, f"CONFIG_DB: cannot read ACL_TABLE ({exc})") from None
        return next((f"ACL_TABLE {bindings[n]}" for n in sorted(names) if n in bindings), None)

    def _loopback_ip(self, namespace: str) -> Optional[str]:
        addresses = sorted(self.model.addresses_of("Loopback0", namespace), key=lambda a: a.address.version)
        return str(addresses[0].address.ip) if addresses else None

    def _remove_entries(self, job: Job) -> None:
        try:
            self._writers[job.namespace].remove(job.keys)
            self.journal.forget(job.id)
        except REDIS_ERRORS as exc:  # retried by the next start (the journal keeps the keys)
            with self._lock:
                self.stats["jobs_config_db_errors_total"] += 1
            log.error("jobs: removing a job's CONFIG_DB entries failed", extra={"job": job.id, "error": str(exc)})

    def _finish(self, job: Job, status: str, reason: str) -> None:
        with self._lock:
            if job.done:  # the jobs thread and a new job on its port may both end a draining one
                return
            job.status, job.ended = status, job.ended or time.time()
            job.end_reason = job.end_reason or reason
            self.stats["jobs_completed_total" if status == COMPLETED else "jobs_stopped_total"] += 1
        if job.spec.otlp_export and self._otlp_export is not None:
            self._otlp_export(job.results.flow_records(self._otlp_privacy)[0], job.id)
            job.otlp_exported = True
        self._update_capture()

    def _update_capture(self) -> None:
        with self._lock:
            streams = list(dict.fromkeys(j.stream for j in self._jobs.values() if not j.done))
        self._set_capture(streams, self.cfg.snap_len)

    def _run(self) -> None:
        """Expiry, the end of draining, and the retention of ended jobs."""
        while not self._cleaned and not self.remove_leftovers():
            with self._lock:
                if self._lock.wait_for(lambda: self._stopping, LEFTOVER_RETRY_S):
                    return
        while True:
            with self._lock:
                if self._stopping:
                    return
                now = time.time()
                due = [j for j in self._jobs.values() if j.status in (RUNNING, STOPPING) and j.ends <= now]
                self._prune(now)
                if not due:
                    pending = [j.ends for j in self._jobs.values() if j.status in (RUNNING, STOPPING)]
                    kept = [j.ended + self.cfg.keep_results_s for j in self._jobs.values() if j.done and j.ended]
                    wake = min(pending + kept, default=now + 60)
                    self._lock.wait(max(0.01, wake - now))
                    continue
            for job in due:
                if job.status == RUNNING:
                    with self._lock:
                        job.status, job.end_reason = STOPPING, "expired"
                        job.ended, job.ends = job.created + job.spec.duration_s, time.time() + self.drain_s
                    self._remove_entries(job)
                    log.info("job expired", extra={"job": job.id})
                else:
                    self._finish(job, COMPLETED if job.end_reason == "expired" else STOPPED, "")

    def _prune(self, now: float) -> None:
        """Caller holds the lock: ended jobs past keep_results_s, and the oldest past keep_results."""
        ended = sorted((j for j in self._jobs.values() if j.done), key=lambda j: j.ended or 0)
        for i, job in enumerate(ended):
            if (job.ended or 0) + self.cfg.keep_results_s <= now or len(ended) - i > self.cfg.keep_results:
                del self._jobs[job.id]
