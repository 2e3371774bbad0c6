"""The agent's own counters (Snapshot.agent): its health, per part, and what its bounds dropped.

A name ending in `_total` is a counter, the others gauges. Prometheus `telegen_agent_<name>`,
OTel `telegen.agent.<name without _total>`, gNMI `/telegen/agent/state/<name, - for _>`.
Every part's `agent_counters()` keys must be here (a test checks); unknown keys are not exported.
"""
from __future__ import annotations

from typing import List

from ..httpserver import COUNTERS as HTTP_COUNTERS, SERVERS as HTTP_SERVERS
from .model import COUNTER, GAUGE, STATE, Entity, Key, Metric, Source

AGENT = Entity("agent", lambda s: (s.agent,), help="the agent itself")

COUNTERS = (  # (name, part, meaning)
    ("snapshot_ticks_total", "pipeline", "Snapshots built (one per tick: every source read once)."),
    ("snapshot_model_refreshes_total", "pipeline", "Snapshots re-labelled between ticks after a model change."),
    ("snapshot_failures_total", "pipeline", "Ticks whose Snapshot could not be built (the last one is served)."),
    ("source_read_errors_total", "pipeline", "Source reads that failed (that source gives nothing that tick)."),
    ("snapshot_build_seconds", "pipeline", "How long the last tick took to read every source."),
    ("redis_instances", "sonic", "Redis instances followed (one per namespace and instance)."),
    ("redis_connected", "sonic", "Redis instances connected now."),
    ("redis_reconnects_total", "sonic", "Reconnections to redis (capped, jittered backoff)."),
    ("counters_db_reads_total", "sonic", "COUNTERS_DB round trips (one pipelined read per namespace per tick)."),
    ("counters_db_read_errors_total", "sonic", "COUNTERS_DB reads that failed (the tick keeps the rest)."),
    ("families_read_errors_total", "sonic", "Reads of the SONiC table families that failed (their last rows kept)."),
    ("probes_ports_attached", "probes", "Netdevs with probes attached."),
    ("probes_ports_tc_ingress", "probes", "Netdevs counting ingress with TC (upper devices, XDP taken)."),
    ("probes_kernel_drops_available", "probes", "1 if kernel drop reasons (tp_btf/kfree_skb) are counted."),
    ("probes_talkers_left_out", "probes", "Sources past the top 10 of their port at the last read."),
    ("probes_xdp_fallbacks_total", "probes", "Ports where XDP was not usable and TC counts ingress."),
    ("probes_attach_errors_total", "probes", "Probe attachments that failed (retried at the next sync)."),
    ("probes_ports_full_total", "probes", "Ports refused because the port table was full."),
    ("probes_recovered_programs_total", "probes", "A killed predecessor's programs taken over at start."),
    ("probes_counter_resets_total", "probes", "Pinned maps that no longer fitted the object (counters restarted)."),
    ("probes_kernel_no_port_entry_total", "probes", "Frames on a device with no port entry (kernel side)."),
    ("probes_kernel_talker_update_total", "probes", "Top-talker updates the kernel could not make."),
    ("probes_kernel_drops_full_total", "probes", "Drop reasons not counted: the drop table was full."),
    ("probes_map_reads_total", "probes", "Whole reads of the probes' kernel maps (one per map per tick)."),
    ("mirror_xdp", "mirror", "1 if mirror copies are decoded in XDP, 0 for AF_PACKET."),
    ("mirror_frames_total", "mirror", "Mirrored frames seen by the decoder."),
    ("mirror_flow_packets_total", "mirror", "Mirrored frames that made a flow."),
    ("mirror_flows", "mirror", "Flows in the flow table now."),
    ("mirror_flow_evictions_total", "mirror", "Flows evicted by the flow table's bound (mirror.max_flows)."),
    ("mirror_session_evictions_total", "mirror", "Mirror streams evicted by the session table's bound."),
    ("mirror_passed_to_stack_total", "mirror", "Frames the XDP decoder left to the kernel stack."),
    ("mirror_seq_contention_total", "mirror", "Sequence updates that raced on another CPU (XDP)."),
    ("mirror_capture_drops_total", "mirror", "Frames the AF_PACKET ring dropped (ring full)."),
    ("mirror_capture_restarts_total", "mirror", "AF_PACKET captures reopened after the interface went down or away."),
    ("mirror_capture_running", "mirror", "1 while the AF_PACKET capture runs."),
    ("mirror_map_reads_total", "mirror", "Whole reads of the XDP decoder's maps (one per map per tick)."),
    ("mirror_job_capture_frames_total", "mirror", "Mirrored frames handed to jobs' captures."),
    ("mirror_job_capture_dropped_total", "mirror", "Frames of captured streams the kernel could not hand over "
     "(the ring buffer was full; XDP)."),
    ("otlp_exported_points_total", "otlp", "Metric points the collector accepted."),
    ("otlp_exported_logs_total", "otlp", "Flow log records the collector accepted."),
    ("otlp_dropped_points_total", "otlp", "Metric points dropped (queue full, expired, refused)."),
    ("otlp_dropped_logs_total", "otlp", "Flow log records dropped (queue full, expired, refused)."),
    ("otlp_retries_total", "otlp", "Export attempts retried (capped, jittered backoff)."),
    ("otlp_expired_requests_total", "otlp", "Requests older than 3 intervals dropped, not retried."),
    ("otlp_snapshot_failures_total", "otlp", "Intervals whose request could not be encoded."),
    ("otlp_queue_length", "otlp", "Requests waiting for the collector."),
    ("otlp_delta_evictions_total", "otlp", "Delta series forgotten by the 100,000-series bound (their next "
     "point starts over)."),
    ("slo_objectives", "slo", "SLOs the engine evaluates."),
    ("slo_evaluations_total", "slo", "SLO evaluations (every slo.interval_s): policies run, history persisted."),
    ("slo_samples_total", "slo", "Snapshots counted into an SLO's history (one per SLO and Snapshot)."),
    ("slo_maintenance_samples_total", "slo", "Snapshots not counted into an SLO: a maintenance window was open."),
    ("slo_events_fired_total", "slo", "Policy thresholds and burn alerts fired."),
    ("slo_otlp_events_total", "slo", "slo.budget.threshold log records handed to the OTLP exporter's queue."),
    ("slo_webhook_sent_total", "slo", "Webhook POSTs the receiver accepted."),
    ("slo_webhook_retries_total", "slo", "Webhook POSTs retried (slo.webhook.retries at most per event)."),
    ("slo_webhook_failed_total", "slo", "Webhook events given up after their retries (or refused with a 4xx)."),
    ("slo_webhook_dropped_total", "slo", "Webhook events dropped: slo.webhook.queue_size were waiting."),
    ("slo_state_db_writes_total", "slo", "Writes of STATE_DB TELEGEN_SLO_TABLE (one round trip each)."),
    ("slo_state_db_errors_total", "slo", "Writes of STATE_DB TELEGEN_SLO_TABLE that failed (retried next interval)."),
    ("slo_state_records_loaded_total", "slo", "History records read back at start (slo.state_dir)."),
    ("slo_state_records_skipped_total", "slo", "History records not used: torn, not parsing, or of a changed SLO."),
    ("slo_state_write_errors_total", "slo", "History writes that failed (slo.state_dir)."),
    ("slo_state_compactions_total", "slo", "History compactions (the journal folded into the history file)."),
    ("gnmi_subscriptions", "gnmi", "Subscribe RPCs open now."),
    ("gnmi_subscriptions_refused_total", "gnmi", "Subscribe RPCs refused: export.gnmi.max_subscriptions were open."),
    ("gnmi_refused_client_limit_total", "gnmi", "RPCs refused: the client had its share open (Subscribe: "
     "export.gnmi.max_subscriptions_per_client; Get, Capabilities: 4)."),
    ("gnmi_refused_busy_total", "gnmi", "Get and Capabilities refused: 8 were being served."),
    ("gnmi_first_request_timeouts_total", "gnmi", "Subscribes ended: no request within export.gnmi.first_request_timeout_s."),
    ("gnmi_idle_timeouts_total", "gnmi", "POLL subscriptions ended: no poll within export.gnmi.idle_timeout_s."),
    ("gnmi_refused_too_many_paths_total", "gnmi", "Gets and Subscribes refused: more than export.gnmi.max_paths paths."),
    ("gnmi_refused_response_too_large_total", "gnmi", "Gets refused: the reply exceeded export.gnmi.max_response_bytes."),
    ("gnmi_refused_reply_budget_total", "gnmi", "Gets refused: the client's replies used export.gnmi.max_response_bytes "
     "in the last 10 s."),
    ("gnmi_invalid_requests_total", "gnmi", "Requests refused as malformed (unknown encoding, path too long, "
     "unparseable, no subscription list)."),
    ("gnmi_unimplemented_total", "gnmi", "Calls refused as not offered (Set, methods gNMI lacks, encodings other than "
     "JSON and JSON_IETF)."),
    ("gnmi_login_failures_total", "gnmi", "Calls with a wrong or missing username/password."),
    ("gnmi_logins_throttled_total", "gnmi", "Calls refused unchecked: the client failed too many logins, it must wait."),
    ("gnmi_deadline_exceeded_total", "gnmi", "Gets stopped because the client's deadline passed or it left."),
    ("gnmi_refused_overload_total", "gnmi", "RPCs gRPC refused itself (RESOURCE_EXHAUSTED): every worker busy and 16 "
     "more waiting."),
    ("gnmi_requests_unread_total", "gnmi", "Unary calls (Get, Capabilities, Set) whose request never arrived whole (over 1 MiB, "
     "which gRPC refuses, or the client left)."),
    ("gnmi_internal_errors_total", "gnmi", "Calls that failed inside the agent (INTERNAL; one log line each, rate-limited)."),
    ("privacy_flows_excluded", "privacy", "Flows of this Snapshot left out by the exporter's privacy.exclude."),
    ("privacy_talkers_excluded", "privacy", "Top talkers of this Snapshot left out by the exporter's privacy.exclude."),
    ("privacy_cache_hits_total", "privacy", "Addresses anonymised from the cache (privacy.cache_entries, LRU)."),
    ("privacy_cache_misses_total", "privacy", "Addresses anonymised with Crypto-PAn (not in the cache)."),
    ("privacy_cache_evictions_total", "privacy", "Anonymised addresses evicted from the cache by its bound."),
    ("privacy_cache_entries", "privacy", "Anonymised addresses in the cache now."),
    ("gnmi_log_lines_suppressed_total", "gnmi", "gNMI warning lines held back by the rate limit (one per kind per 10 s)."),
    ("jobs_running", "jobs", "Mirror jobs running now."),
    ("jobs_results_kept", "jobs", "Ended jobs whose results are kept (jobs.keep_results, keep_results_s)."),
    ("jobs_created_total", "jobs", "Mirror jobs started."),
    ("jobs_refused_total", "jobs", "Job requests refused (400 naming the field, 404, 409, 503); nothing written."),
    ("jobs_limited_total", "jobs", "Job requests answered 429: jobs.max_concurrent_jobs were running."),
    ("jobs_completed_total", "jobs", "Jobs that ran their duration."),
    ("jobs_stopped_total", "jobs", "Jobs stopped before their duration (DELETE, the agent stopping)."),
    ("jobs_leftovers_removed_total", "jobs", "CONFIG_DB keys a killed predecessor's jobs left, removed at start."),
    ("jobs_config_db_errors_total", "jobs", "CONFIG_DB writes or removals of jobs that failed."),
    ("jobs_capture_dropped_total", "jobs", "Captured frames past a job's jobs.capture_bytes, counted not kept."),
    ("jobs_capture_excluded_total", "jobs", "Captured frames not kept: jobs.privacy.exclude names their addresses."),
    ("jobs_flows_untracked_total", "jobs", "Flows a job could not follow (over 4 x its topk_flows)."),
) + tuple((f"{server}_http_{suffix}", "http", f"{server}: {meaning}")
          for server in HTTP_SERVERS for suffix, meaning in HTTP_COUNTERS)


def gnmi_leaf(name: str) -> str:
    return "/telegen/agent/state/" + name.replace("_", "-")


def metrics() -> List[Metric]:
    out = []
    for name, part, help in COUNTERS:
        counter = name.endswith("_total")
        stem = name[:-len("_total")] if counter else name
        out.append(Metric(f"agent.{name}", AGENT, COUNTER if counter else GAUGE, "s" if name.endswith("_seconds") else "1",
                          help, Source("agent", part), lambda counters, name=name: counters.get(name),
                          prom=f"telegen_agent_{stem}", otel=f"telegen.agent.{stem}", gnmi=gnmi_leaf(name)))
    return out


PROMETHEUS = Entity("prometheus", lambda stats: (stats,), help="the /metrics server, served even when no "
                    "Snapshot could be encoded")
PROMETHEUS_COUNTERS = tuple(
    Metric(f"prometheus.{name}", PROMETHEUS, COUNTER, "1", help, Source("agent", "prometheus"),
           lambda stats, name=name: stats.get(name), prom=f"telegen_prometheus_{name}")
    for name, help in (
        ("series_cut", "Series left out by export.prometheus.max_series since the agent started."),
        ("snapshot_failures", "Scrapes whose Snapshot could not be encoded.")))


UNPARSED = Entity("unparsed", lambda s: s.families.get("unparsed", ()),
                  (Key("table", lambda r: r.key[0], prom="table", otel="sonic.table"),
                   Key("field", lambda r: r.key[1], prom="field", otel="sonic.field"),
                   Key("namespace", "namespace", prom="namespace", otel="sonic.namespace")),
                  help="a SONiC table field that did not parse (N/A, None, Updating, ...)")
TABLE_HEALTH = Entity("table_health", lambda s: s.families.get("table_health", ()),
                      (Key("table", lambda r: r.key[0], prom="table", otel="sonic.table"),
                       Key("namespace", "namespace", prom="namespace", otel="sonic.namespace")),
                      help="a SONiC table the families read")


def health_metrics() -> List[Metric]:
    source = Source("agent", "sonic.families")
    return [
        Metric("families.unparsed", UNPARSED, COUNTER, "{field}", "Table fields that did not parse ('N/A', 'None', "
               "'Updating', ...): that one series is left out, the rest of its family exported.", source,
               lambda r: r.values.get("count"), prom="telegen_sonic_fields_unparsed",
               otel="telegen.sonic.fields.unparsed", gnmi="/telegen/sonic/tables/table[name={table}]/fields/"
               "field[name={field}]/state/unparsed"),
        Metric("families.skipped", TABLE_HEALTH, COUNTER, "{entry}", "Table entries skipped: a key the agent could "
               "not read as its table's key.", source, lambda r: r.values.get("skipped"),
               prom="telegen_sonic_table_entries_skipped", otel="telegen.sonic.table.skipped",
               gnmi="/telegen/sonic/tables/table[name={table}]/state/skipped"),
        Metric("families.truncated", TABLE_HEALTH, STATE, "1", "1 if the last read of a table stopped at its "
               "family's max_entries (the rest not read).", source, lambda r: r.values.get("truncated"),
               prom="telegen_sonic_table_truncated", otel="telegen.sonic.table.truncated",
               gnmi="/telegen/sonic/tables/table[name={table}]/state/truncated"),
        Metric("families.cuts", TABLE_HEALTH, COUNTER, "{read}", "Reads of a table cut at its family's max_entries.",
               source, lambda r: r.values.get("cuts"), prom="telegen_sonic_table_cuts",
               otel="telegen.sonic.table.cuts", gnmi="/telegen/sonic/tables/table[name={table}]/state/cuts"),
    ]
