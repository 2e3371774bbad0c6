"""Exporters: Prometheus `/metrics`, OTLP (gRPC and HTTP/protobuf) and a gNMI server.

Each is a pure encoder from a `sonic_agent.records.Snapshot` plus a thin transport; each
takes a `snapshot_fn() -> Snapshot` that the pipeline builds fresh from live state, and has
`start()`, `stop()` and `agent_counters()` (its own health, merged into Snapshot.agent).
"""
