"""The job API's OpenAPI document, served at /v1/openapi.json.

Paths and request fields are the original Telegen-Sonic OpenAPI's (`/v1/monitor/jobs`,
StartJobRequest, StartJobResponse, JobStatus, StopJobResponse, JobResults with window_sec,
packets_total, bytes_total, errors, top_flows, otel_export), so its clients work; what this
agent adds is listed beside them (GET of the job list, the pcap, richer flows and summary).
"""
from __future__ import annotations

from .. import __version__
from .spec import DIRECTIONS, PROTOCOLS, RESULT_DETAILS, SPAN_METHODS


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {code: _json("Error", text) for code, text in (
    ("400", "A bad request: the message names the field"), ("401", "No or a wrong bearer token"),
    ("404", "No such job"), ("409", "The switch cannot take the job (e.g. no Loopback0 address)"),
    ("413", "Body too large"), ("429", "max_concurrent_jobs are running"),
    ("503", "CONFIG_DB or the journal could not be written"))}
JOB_ID = {"in": "path", "name": "job_id", "required": True, "schema": {"type": "string"}}
PORTS = {"oneOf": [{"type": "integer", "minimum": 0, "maximum": 65535},
                   {"type": "string", "pattern": "^[0-9]+-[0-9]+$"}]}
FILTER = {"type": "object", "additionalProperties": False, "properties": {
    "src_prefix": {"type": "string", "description": "IPv4 or IPv6 prefix"},
    "dst_prefix": {"type": "string", "description": "IPv4 or IPv6 prefix"},
    "protocol": {"oneOf": [{"type": "string", "enum": list(PROTOCOLS)},
                           {"type": "integer", "minimum": 0, "maximum": 255}]},
    "src_port": PORTS, "dst_port": PORTS, "vlan": {"type": "integer", "minimum": 1, "maximum": 4094},
    "tcp_flags": {"type": "string", "description": "flag names (SYN,ACK) or value/mask (0x12/0x17)"}}}

SCHEMAS = {
    "StartJobRequest": {"type": "object", "required": ["port"], "additionalProperties": False, "properties": {
        "port": {"type": "string", "description": "a port (EthernetN or its alias) or a PortChannel"},
        "direction": {"type": "string", "enum": list(DIRECTIONS), "default": "both"},
        "span_method": {"type": "string", "enum": list(SPAN_METHODS), "default": "erspan"},
        "vlan": {"type": ["integer", "null"], "minimum": 1, "maximum": 4094},
        "filters": {"description": "an ACL rule, or a list of them (a frame matching any is mirrored)",
                    "oneOf": [FILTER, {"type": "array", "items": FILTER, "maxItems": 16}]},
        "sample_rate": {"type": "integer", "minimum": 1, "default": 1},
        "duration_sec": {"type": "number", "exclusiveMinimum": 0, "default": 120},
        "otlp_export": {"type": "boolean", "default": False},
        "result_detail": {"type": "string", "enum": list(RESULT_DETAILS), "default": "flows"},
        "topk_flows": {"type": "integer", "minimum": 1, "default": 1024}}},
    "StartJobResponse": {"type": "object", "properties": {
        "job_id": {"type": "string"}, "status": {"type": "string"}, "interface": {"type": "string"}}},
    "JobStatus": {"type": "object", "properties": {
        "job_id": {"type": "string"},
        "status": {"type": "string", "enum": ["running", "stopping", "completed", "stopped"]},
        "started_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "ended_at": {"type": ["string", "null"], "format": "date-time"},
        "end_reason": {"type": ["string", "null"], "enum": ["expired", "deleted", "agent stopped", None]},
        "port": {"type": "string"}, "interface": {"type": "string"}, "mirror_session": {"type": "string"},
        "config_db_keys": {"type": "array", "items": {"type": "string"}},
        "request": _ref("StartJobRequest")}},
    "JobList": {"type": "object", "properties": {"jobs": {"type": "array", "items": _ref("JobStatus")}}},
    "StopJobResponse": {"type": "object", "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}}},
    "Flow": {"type": "object", "properties": {
        "five_tuple": {"type": "string"}, "pkts": {"type": "integer"}, "bytes": {"type": "integer"},
        "src": {"type": "string"}, "dst": {"type": "string"}, "protocol": {"type": "integer"},
        "src_port": {"type": ["integer", "null"]}, "dst_port": {"type": ["integer", "null"]},
        "vlan": {"type": ["integer", "null"]},
        "direction": {"type": ["string", "null"], "enum": ["ingress", "egress", None]},
        "packets": {"type": "integer"}, "estimated_packets": {"type": "integer"},
        "estimated_bytes": {"type": "integer"}, "session": {"type": "string"},
        "source_ports": {"type": "array", "items": {"type": "string"}}}},
    "JobResults": {"type": "object", "properties": {
        "job_id": {"type": "string"}, "status": {"type": "string"},
        "complete": {"type": "boolean", "description": "the job ended and its last copies were counted"},
        "window_sec": {"type": "number"}, "packets_total": {"type": "integer"}, "bytes_total": {"type": "integer"},
        "errors": {"type": "object", "additionalProperties": {"type": "integer"},
                   "description": ("mirror_loss (GRE sequence gaps), flows_untracked, capture_dropped, "
                                   "capture_excluded and flows_excluded (jobs.privacy.exclude)")},
        "summary": {"type": "object"}, "top_flows": {"type": "array", "items": _ref("Flow")},
        "packets": {"type": "array", "description": "result_detail pcaplike: the captured frames",
                    "items": {"type": "object", "properties": {
                        "time": {"type": "number"}, "length": {"type": "integer"}, "captured": {"type": "integer"},
                        "direction": {"type": ["string", "null"]}, "data": {"type": "string", "format": "hex"}}}},
        "capture": {"type": "object"},
        "latency_histogram_ns": {"type": "object", "description": "not measured (empty)"},
        "otel_export": {"type": "object", "properties": {"exported": {"type": "boolean"},
                                                         "endpoint": {"type": "string"}}}}},
    "Error": {"type": "object", "properties": {"error": {"type": "string"}, "message": {"type": "string"}}},
}

DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "telegen-sonic mirror jobs", "version": __version__},
    "servers": [{"url": "/v1"}],
    "components": {"schemas": SCHEMAS, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "security": [{"bearer": []}],
    "paths": {
        "/monitor/jobs": {
            "post": {"summary": "Start a monitor job", "requestBody": {"required": True, "content": {
                "application/json": {"schema": _ref("StartJobRequest")}}},
                "responses": {"201": _json("StartJobResponse", "Created (with every JobStatus field)"),
                              **{c: ERRORS[c] for c in ("400", "401", "409", "413", "429", "503")}}},
            "get": {"summary": "List the jobs (running and kept)",
                    "responses": {"200": _json("JobList", "OK"), "401": ERRORS["401"]}}},
        "/monitor/jobs/{job_id}": {
            "get": {"summary": "Get job status", "parameters": [JOB_ID],
                    "responses": {"200": _json("JobStatus", "OK"), "401": ERRORS["401"], "404": ERRORS["404"]}},
            "delete": {"summary": "Stop a job (an ended one: forget its results)", "parameters": [JOB_ID],
                       "responses": {"200": _json("StopJobResponse", "OK"), "401": ERRORS["401"],
                                     "404": ERRORS["404"]}}},
        "/monitor/jobs/{job_id}/results": {
            "get": {"summary": "Get job results", "parameters": [
                JOB_ID, {"in": "query", "name": "format", "schema": {"type": "string", "enum": ["json"]}},
                {"in": "query", "name": "detail", "schema": {"type": "string", "enum": list(RESULT_DETAILS)},
                 "description": "default: the job's result_detail"}],
                "responses": {"200": _json("JobResults", "OK"), "401": ERRORS["401"], "404": ERRORS["404"]}}},
        "/monitor/jobs/{job_id}/results/pcap": {
            "get": {"summary": "The job's capture (inner frames, snap length, byte bound and jobs.privacy "
                               "applied)",
                    "parameters": [JOB_ID], "responses": {
                        "200": {"description": "pcap", "content": {"application/vnd.tcpdump.pcap": {
                            "schema": {"type": "string", "format": "binary"}}}},
                        "401": ERRORS["401"], "404": ERRORS["404"]}}},
    },
}
