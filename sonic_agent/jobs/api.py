"""The job API over HTTP: `/v1/monitor/jobs[/{job_id}[/results[/pcap]]]` and `/v1/openapi.json`.

On the agent's bounded HTTP layer (sonic_agent.httpserver; a body of at most 64 KiB). Security
as gNMI's: plain HTTP only on a loopback address, else TLS (`jobs.tls.cert`/`key`); every
request carries `Authorization: Bearer <jobs.token>` (401 otherwise, checked before a byte of
the body is read), or, with `jobs.tls.client_ca`, a client certificate (mTLS) stands for it.
Errors are JSON `{"error", "message"}`, the message naming the field.
"""
from __future__ import annotations

import hmac
import json
import logging
import ssl
from pathlib import Path
from typing import Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from ..config import JobsConfig
from ..errors import UserError
from ..httpserver import BoundedHandler, BoundedHTTPServer, HttpLimits
from ..listen import is_loopback, parse_listen
from .manager import Job, JobManager
from .openapi import DOCUMENT
from .results import flow_json
from .spec import RESULT_DETAILS, JobError

log = logging.getLogger("telegen.jobs")
LIMITS = HttpLimits(max_connections=8, max_per_client=4, request_timeout_s=5.0, max_body=64 * 1024)
PREFIX = "/v1/monitor/jobs"
ERROR_NAMES = {400: "bad_request", 401: "unauthorized", 404: "not_found", 405: "method_not_allowed",
               409: "conflict", 429: "too_many_jobs", 503: "unavailable"}
PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6", 132: "sctp"}


def read_token(cfg: JobsConfig) -> Optional[str]:
    if cfg.token_file:
        try:
            lines = Path(cfg.token_file).read_text().splitlines()
        except OSError as exc:
            raise UserError(f"jobs.token_file: cannot read {cfg.token_file}: {exc.strerror}") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise UserError(f"jobs.token_file: {cfg.token_file} is empty")
        return token
    return cfg.token or None


def tls_context(cfg: JobsConfig, host: str) -> Optional[ssl.SSLContext]:
    tls = cfg.tls
    if not (tls.cert and tls.key):
        if not is_loopback(host):
            raise UserError(f"jobs.listen: {cfg.listen}: plain HTTP only on loopback; set jobs.tls.cert and "
                            "jobs.tls.key")
        if tls.client_ca:
            raise UserError("jobs.tls.client_ca: mTLS needs jobs.tls.cert and jobs.tls.key")
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(tls.cert, tls.key)
        if tls.client_ca:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(tls.client_ca)
    except (OSError, ssl.SSLError) as exc:
        raise UserError(f"jobs.tls: cannot load the certificate, key or client CA: {exc}") from None
    return context


class JobApi:
    """The HTTP server of the job API around a JobManager."""

    def __init__(self, cfg: JobsConfig, manager: JobManager, otlp_endpoint: str = ""):
        self.host, self.port = parse_listen(cfg.listen, "config: jobs.listen")
        self.cfg, self.manager, self.otlp_endpoint = cfg, manager, otlp_endpoint
        self.token = read_token(cfg)
        self.tls = tls_context(cfg, self.host)
        if self.token is None and not cfg.tls.client_ca:
            raise UserError("jobs.token: required (or jobs.token_file, or jobs.tls.client_ca for mTLS): the API "
                            "writes CONFIG_DB")
        self._server: Optional[BoundedHTTPServer] = None

    def start(self) -> "JobApi":
        try:
            self._server = BoundedHTTPServer("jobs", (self.host, self.port), _JobHandler, LIMITS, self.tls)
        except OSError as exc:
            raise UserError(f"jobs.listen: cannot bind {self.cfg.listen}: {exc.strerror}") from None
        self._server.api = self
        self.port = self._server.server_port
        self._server.start()
        log.info("jobs: API on %s:%d", self.host, self.port)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def agent_counters(self) -> dict:
        return self._server.counters() if self._server is not None else {}

    def authorized(self, header: str) -> bool:
        if self.token is None:
            return True  # mTLS: the handshake checked the client's certificate
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode())

    def results(self, job: Job, detail: str) -> dict:
        summary = job.results.summary(job.ended)
        capture = job.capture.stats()
        out = {"job_id": job.id, "status": job.status, "complete": job.done, "detail": detail,
               "window_sec": summary["duration_sec"], "packets_total": summary["packets"],
               "bytes_total": summary["bytes"],
               "errors": {"mirror_loss": summary["mirror_loss"], "flows_untracked": summary["flows_untracked"],
                          "capture_dropped": capture["dropped"], "capture_excluded": capture["excluded"]},
               "summary": summary, "capture": capture, "latency_histogram_ns": {"bounds": [], "counts": []},
               "otel_export": {"exported": job.otlp_exported,
                               "endpoint": self.otlp_endpoint if job.spec.otlp_export else ""}}
        if detail in ("flows", "pcaplike"):
            flows, excluded = job.results.flow_records(self.manager.privacy)
            out["top_flows"] = [dict(five_tuple=five_tuple(f), pkts=f.packets, **flow_json(f)) for f in flows]
            out["errors"]["flows_excluded"] = excluded
        if detail == "pcaplike":
            out["packets"] = job.capture.packets()
        return out


def five_tuple(f) -> str:
    proto = PROTOCOL_NAMES.get(f.proto, str(f.proto))
    src = f"{f.src}:{f.sport}" if f.sport is not None else f.src
    dst = f"{f.dst}:{f.dport}" if f.dport is not None else f.dst
    return f"{proto} {src} -> {dst}"


class _JobHandler(BoundedHandler):
    def _route(self) -> Tuple[str, str, dict]:
        """(job id or "", what under it: "" | "results" | "results/pcap" | "?", query)."""
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = url.path.rstrip("/")
        if path == PREFIX:
            return "", "", query
        if not path.startswith(PREFIX + "/"):
            return "", "?", query
        job_id, _, rest = path[len(PREFIX) + 1:].partition("/")
        return job_id, rest if rest in ("", "results", "results/pcap") else "?", query

    def _json(self, status: int, doc: object) -> None:
        self.send_bytes(status, "application/json", json.dumps(doc).encode() + b"\n")

    def _error(self, status: int, message: str) -> None:
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        self.send_bytes(status, "application/json", json.dumps(
            {"error": ERROR_NAMES.get(status, "error"), "message": message}).encode() + b"\n", headers)

    def _allowed(self) -> bool:
        if self.server.api.authorized(self.headers.get("Authorization", "")):
            return True
        self._error(401, "Authorization: Bearer <jobs.token> required")
        return False

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        if urlsplit(self.path).path == "/v1/openapi.json":
            self._json(200, DOCUMENT)
            return
        if not self._allowed():
            return
        api = self.server.api
        job_id, what, query = self._route()
        try:
            if what == "?":
                self._error(404, f"no such path {urlsplit(self.path).path!r}")
            elif not job_id:
                self._json(200, {"jobs": [j.status_json() for j in api.manager.jobs()]})
            elif what == "":
                self._json(200, api.manager.get(job_id).status_json())
            elif what == "results/pcap":
                self.send_bytes(200, "application/vnd.tcpdump.pcap", api.manager.get(job_id).capture.pcap())
            else:
                job = api.manager.get(job_id)
                detail = query.get("detail", job.spec.result_detail)
                if detail not in RESULT_DETAILS:
                    raise JobError(400, f"detail: must be one of {', '.join(RESULT_DETAILS)}, got {detail!r}")
                if query.get("format", "json") != "json":
                    raise JobError(400, f"format: only json, got {query['format']!r}")
                self._json(200, api.results(job, detail))
        except JobError as exc:
            self._error(exc.status, str(exc))

    def do_POST(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        job_id, what, _ = self._route()
        if job_id or what:
            self._error(405 if what != "?" else 404, "POST only on /v1/monitor/jobs")
            return
        body = self.read_body()
        if body is None:
            return
        try:
            request = json.loads(body or b"null")
        except ValueError as exc:
            self._error(400, f"request body: not JSON ({exc})")
            return
        try:
            job = self.server.api.manager.create(request)
        except JobError as exc:
            self._error(exc.status, str(exc))
            return
        self._json(201, {**job.status_json(), "job_id": job.id, "status": job.status, "interface": job.port})

    def do_DELETE(self) -> None:  # noqa: N802
        if not self._allowed():
            return
        job_id, what, _ = self._route()
        if not job_id or what:
            self._error(405 if what != "?" else 404, "DELETE only on /v1/monitor/jobs/{job_id}")
            return
        try:
            job = self.server.api.manager.delete(job_id)
        except JobError as exc:
            self._error(exc.status, str(exc))
            return
        self._json(200, {"job_id": job.id, "status": job.status})
