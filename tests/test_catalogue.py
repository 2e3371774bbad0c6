"""One catalogue drives every encoder and README: one entry added is one counter everywhere.

The fixture catalogue adds a COUNTERS_DB port counter the agent does not know
(SAI_PORT_STAT_IF_IN_FABRIC_DATA_UNITS); the real pipeline reads it from a real redis and
serves it through Prometheus (scraped over HTTP), OTLP (a gRPC receiver) and gNMI (a Get).
"""
from __future__ import annotations

import json

import grpc
import pytest
import requests
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from sonic_agent.catalogue import CATALOGUE, COUNTER
from sonic_agent.catalogue.agent import COUNTERS
from sonic_agent.catalogue.docs import rewrite
from sonic_agent.catalogue.switch import PORT_COUNTERS, counters_db
from sonic_agent.config import GnmiConfig, OtlpConfig
from sonic_agent.pipeline import Pipeline
from tests.conftest import REPO, wait_until
from tests.export.otlp_peer import GrpcReceiver
from tests.export.test_otlp import attrs
from tests.sonic.generated import generate_switch, generated_agent

COUNTERS_DB = 2
FABRIC_UNITS = counters_db("port.in_fabric_data_units", PORT_COUNTERS, "COUNTERS", "SAI_PORT_STAT_IF_IN_FABRIC_DATA_UNITS",
                        COUNTER, "{unit}", "Fabric data units received.", "sonic_port_fabric_data_units", (),
                        "sonic.port.fabric_data_units", (("network.io.direction", "receive"),),
                        "/interfaces/interface[name={port}]/state/counters/in-fabric-data-units")


def test_readme_tables_are_the_catalogues():
    text = (REPO / "README.md").read_text()
    assert "<!-- catalogue:prometheus -->" in text and "<!-- catalogue:gnmi -->" in text
    assert rewrite(text) == text, "README differs: run .venv/bin/python -m sonic_agent.catalogue.docs README.md"


def test_agent_counter_names_are_unique_and_typed_by_suffix():
    names = [name for name, _, _ in COUNTERS]
    assert len(names) == len(set(names))
    for name in names:
        metric = CATALOGUE.by_name[f"agent.{name}"]
        assert (metric.kind == COUNTER) == name.endswith("_total")


@pytest.fixture
def pipeline_with_extra_counter(redis_server):
    cfg = generated_agent(redis_server, generate_switch(ports=4, portchannels=1, vlans=1), 0.2)
    counters = redis_server.client(COUNTERS_DB)
    oid = counters.hget("COUNTERS_PORT_NAME_MAP", "Ethernet4")
    counters.hset(f"COUNTERS:{oid}", "SAI_PORT_STAT_IF_IN_FABRIC_DATA_UNITS", "77")
    receiver = GrpcReceiver().start()
    cfg.export.gnmi = GnmiConfig(enabled=True, listen="127.0.0.1:0")
    cfg.export.otlp = OtlpConfig(enabled=True, endpoint=f"http://127.0.0.1:{receiver.port}", interval_s=0.2)
    pipe = Pipeline(cfg, catalogue=CATALOGUE.extended(FABRIC_UNITS))
    pipe.start()
    yield pipe, receiver
    pipe.stop()
    receiver.stop()


def test_one_catalogue_entry_reaches_prometheus_otlp_and_gnmi(pipeline_with_extra_counter):
    pipe, receiver = pipeline_with_extra_counter
    prometheus, gnmi = (next(e for e in pipe.exporters if type(e).__name__ == kind)
                        for kind in ("PrometheusExporter", "GnmiServer"))
    text = requests.get(f"http://127.0.0.1:{prometheus.port}/metrics", timeout=5).text
    assert 'sonic_port_fabric_data_units_total{port="Ethernet4",alias="etp2",namespace=""} 77\n' in text
    assert "# TYPE sonic_port_fabric_data_units_total counter" in text

    def fabric_points():
        for _, request, _ in receiver.of("metrics"):
            for metric in request.resource_metrics[0].scope_metrics[0].metrics:
                if metric.name == "sonic.port.fabric_data_units":
                    return [(attrs(p.attributes), p.as_int) for p in metric.sum.data_points]
        return None
    assert wait_until(fabric_points, 10) is not None
    assert fabric_points() == [({"network.interface.name": "Ethernet4", "sonic.port.alias": "etp2",
                                    "network.io.direction": "receive"}, 77)]

    with grpc.insecure_channel(f"127.0.0.1:{gnmi.port}") as channel:
        path = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="interfaces"),
                                   gnmi_pb2.PathElem(name="interface", key={"name": "Ethernet4"}),
                                   gnmi_pb2.PathElem(name="state"), gnmi_pb2.PathElem(name="counters"),
                                   gnmi_pb2.PathElem(name="in-fabric-data-units")])
        reply = gnmi_pb2_grpc.gNMIStub(channel).Get(gnmi_pb2.GetRequest(path=[path], encoding=gnmi_pb2.JSON_IETF),
                                                    timeout=5)
    (update,) = reply.notification[0].update
    assert json.loads(update.val.json_ietf_val) == "77"  # a counter: uint64, a string under JSON_IETF


def test_every_agent_counter_produced_is_catalogued(pipeline_with_extra_counter):
    pipe, _ = pipeline_with_extra_counter
    names = {name for name, _, _ in COUNTERS}
    assert set(pipe.snapshot().agent) <= names, set(pipe.snapshot().agent) - names


def test_readme_coverage_names_every_exporter_metric_and_only_real_series():
    import re
    from tests.conftest import shared_path
    reference = [line.split("\t")[0] for name in ("premday", "vinted")
                 for line in shared_path("reference", f"sonic-exporter-{name}-metrics.tsv").read_text().splitlines()
                 if line.strip()]
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Coverage against standalone SONiC exporters"):text.index("## eBPF loader")]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \|[^|]*\|[^|]*\| (.+) \|$", section, re.M)}
    assert set(reference) <= set(rows), set(reference) - set(rows)
    ours = set()
    for m in CATALOGUE:
        if m.prom:
            ours |= {m.prom, m.prom + "_total"} if m.kind == COUNTER else {m.prom}
    named = {name for text in rows.values() for name in re.findall(r"\b((?:sonic|telegen|node)_\w+)",
                                                                  re.sub(r"\{[^}]*\}", "", text))
             if not name.endswith("_")}  # `sonic_container_*` names a family
    assert {n for n in named if n not in ours and not n.startswith("telegen_agent_")} == set()
    agent = {f"telegen_agent_{name}" for name, _, _ in COUNTERS}
    assert {n for n in named if n.startswith("telegen_agent_")} <= agent
