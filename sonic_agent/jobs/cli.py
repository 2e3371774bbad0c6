"""`telegen-sonic mirror start|list|results|stop`: a client of the running agent's job API.

Where the API is and its token come from the agent's config (`--config`, TELEGEN_* apply:
jobs.listen, jobs.token or jobs.token_file); https when jobs.tls.cert is set, verified with
`--ca` (and a client certificate with `--cert`/`--key` for mTLS). An answer other than 2xx
is one line, the API's message (which names the field), and exit code 2.

Filters (`--filter`, repeatable, one ACL rule each): comma-separated `name=value` pairs of
the API's filter fields, e.g. `--filter protocol=udp,dst_port=53`.
"""
from __future__ import annotations

import json
import ssl
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from ..config import load_config
from ..errors import UserError
from .api import read_token
from .spec import FILTER_FIELDS


class JobClient:
    def __init__(self, args):
        cfg = load_config(args.config).jobs
        self.base = f"{'https' if cfg.tls.cert else 'http'}://{cfg.listen}/v1/monitor/jobs"
        self.token = read_token(cfg)
        self.context: Optional[ssl.SSLContext] = None
        if cfg.tls.cert:
            self.context = ssl.create_default_context(cafile=args.ca)
            if args.cert:
                self.context.load_cert_chain(args.cert, args.key)

    def call(self, method: str, path: str = "", body: Optional[dict] = None) -> bytes:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30, context=self.context) as response:
                return response.read()
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except ValueError:
                message = exc.reason
            raise UserError(f"mirror: {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise UserError(f"mirror: the job API at {self.base} does not answer ({reason})") from None

    def json(self, method: str, path: str = "", body: Optional[dict] = None) -> dict:
        return json.loads(self.call(method, path, body))


def parse_filter(text: str) -> dict:
    out = {}
    for pair in text.split(","):
        name, sep, value = pair.partition("=")
        if not sep or name.strip() not in FILTER_FIELDS:
            raise UserError(f"mirror start: --filter: {pair!r} is not name=value with a name of "
                            f"{', '.join(FILTER_FIELDS)}")
        value = value.strip()
        out[name.strip()] = int(value) if value.isdigit() else value
    return out


def start(args) -> int:
    body = {"port": args.port, "direction": args.direction, "sample_rate": args.sample_rate}
    if args.duration is not None:
        body["duration_sec"] = args.duration
    if args.filter:
        body["filters"] = [parse_filter(f) for f in args.filter]
    job = JobClient(args).json("POST", "", body)
    print(json.dumps(job, indent=2) if args.format == "json" else
          f"job {job['job_id']} {job['status']}: {job['port']} until {job['expires_at']} "
          f"(MIRROR_SESSION {job['mirror_session']})")
    return 0


def list_jobs(args) -> int:
    jobs = JobClient(args).json("GET")["jobs"]
    if args.format == "json":
        print(json.dumps(jobs, indent=2))
        return 0
    print(f"{'JOB':<10} {'STATUS':<10} {'PORT':<16} {'DIRECTION':<9} {'STARTED':<28} EXPIRES")
    for job in jobs:
        print(f"{job['job_id']:<10} {job['status']:<10} {job['port']:<16} {job['request']['direction']:<9} "
              f"{job['started_at']:<28} {job['expires_at']}")
    return 0


def results(args) -> int:
    client = JobClient(args)
    if args.pcap:
        data = client.call("GET", f"/{args.job_id}/results/pcap")
        Path(args.pcap).write_bytes(data)
        print(f"mirror: {args.pcap}: {len(data)} bytes", file=sys.stderr)
        return 0
    doc = client.json("GET", f"/{args.job_id}/results?detail=flows")
    if args.format == "json":
        print(json.dumps(doc, indent=2))
        return 0
    s = doc["summary"]
    print(f"job {doc['job_id']} {doc['status']}{'' if doc['complete'] else ' (not complete)'}: "
          f"{s['packets']} packets, {s['bytes']} bytes, {s['flows']} flows in {s['duration_sec']:.1f} s, "
          f"mirror loss {s['mirror_loss']}")
    print(f"{'DIRECTION':<9} {'FLOW':<52} {'PACKETS':>9} {'BYTES':>11} {'EST.PACKETS':>12}")
    for f in doc["top_flows"]:
        print(f"{f['direction'] or '-':<9} {f['five_tuple']:<52} {f['packets']:>9} {f['bytes']:>11} "
              f"{f['estimated_packets']:>12}")
    return 0


def stop(args) -> int:
    job = JobClient(args).json("DELETE", f"/{args.job_id}")
    print(f"job {job['job_id']} {job['status']}")
    return 0
