"""Each source is read once per tick, whatever the number of consumers.

A real pipeline on a real redis: the COUNTERS_DB commands it sends per tick (redis `INFO
commandstats`) are counted first with no consumer at all, then while three clients scrape
/metrics back to back and twelve gNMI streams (SAMPLE and ON_CHANGE) plus a Get loop read
everything; the per-tick figures must be the same.
"""
from __future__ import annotations

import dataclasses
import threading

import grpc
import pytest
import requests
from pygnmi.spec.v080 import gnmi_pb2, gnmi_pb2_grpc

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.config import GnmiConfig
from sonic_agent.pipeline import Pipeline
from tests.conftest import wait_until
from tests.sonic.generated import generate_switch, generated_agent

TICK_S = 0.2
TICKS = 10


@pytest.fixture
def pipeline(redis_server):
    cfg = generated_agent(redis_server, generate_switch(ports=8, portchannels=1, vlans=2), TICK_S)
    for family in dataclasses.fields(cfg.families):  # every SONiC table family read at every tick
        getattr(cfg.families, family.name).refresh_s = 0.001
    cfg.export.gnmi = GnmiConfig(enabled=True, listen="127.0.0.1:0")
    pipe = Pipeline(cfg)
    pipe.start()
    yield pipe
    pipe.stop()


def commands(client) -> dict:
    """Calls per redis command so far, but INFO (the test's own)."""
    return {name[len("cmdstat_"):]: value["calls"] for name, value in client.info("commandstats").items()
            if name != "cmdstat_info"}


def per_tick(pipe, redis_server) -> dict:
    """Redis commands and COUNTERS_DB round trips per tick over TICKS ticks, counted from the
    feed's own thread right after each tick is published (so no tick is half in the window)."""
    marks = []
    seen = threading.Event()
    client = redis_server.client()

    def mark(snapshot):
        if len(marks) <= TICKS:
            marks.append((snapshot.agent["snapshot_ticks_total"], snapshot.agent["counters_db_reads_total"],
                          commands(client)))
        else:
            seen.set()
    unsubscribe = pipe.feed.subscribe(mark)
    try:
        assert seen.wait(30), "the feed did not tick"
    finally:
        unsubscribe()
    (ticks0, reads0, before), (ticks1, reads1, after) = marks[0], marks[-1]
    ticks = ticks1 - ticks0
    out = {name: (after[name] - before.get(name, 0)) / ticks for name in after}
    out["round_trips"] = (reads1 - reads0) / ticks
    return {k: v for k, v in out.items() if v}


def test_redis_is_read_once_per_tick_whatever_the_consumers(pipeline, redis_server):
    idle = per_tick(pipeline, redis_server)
    assert idle["round_trips"] == 1  # one pipelined read per namespace and tick
    assert idle["hmget"] == 8 * 2 + 8 * 3 + 8 * 3 * 2  # COUNTERS and RATES of 8 ports, their 24 queues, and
    # the queues' USER_ and PERSISTENT_WATERMARKS
    tables = {(e.table.db, e.table.name, e.table.whole) for e in CATALOGUE.entities()
              if e.table is not None and not e.table.objects}
    assert idle["scan"] == sum(1 for _, _, whole in tables if not whole), idle  # each family table scanned once
    assert idle["hgetall"] == sum(1 for _, _, whole in tables if whole)  # and each whole-hash table read once
    prometheus, gnmi = (next(e for e in pipeline.exporters if type(e).__name__ == kind)
                        for kind in ("PrometheusExporter", "GnmiServer"))
    stop = threading.Event()
    served = {"scrapes": 0, "gets": 0, "updates": 0}
    lock = threading.Lock()

    def count(what: str, n: int = 1) -> None:
        with lock:
            served[what] += n

    def scrape():
        while not stop.is_set():
            requests.get(f"http://127.0.0.1:{prometheus.port}/metrics", timeout=5).raise_for_status()
            count("scrapes")

    channel = grpc.insecure_channel(f"127.0.0.1:{gnmi.port}")
    stub = gnmi_pb2_grpc.gNMIStub(channel)

    def get():
        while not stop.is_set():
            stub.Get(gnmi_pb2.GetRequest(path=[gnmi_pb2.Path()], encoding=gnmi_pb2.JSON_IETF), timeout=5)
            count("gets")

    def subscription(mode):
        path = gnmi_pb2.Path(elem=[gnmi_pb2.PathElem(name="interfaces")])
        return gnmi_pb2.SubscribeRequest(subscribe=gnmi_pb2.SubscriptionList(
            subscription=[gnmi_pb2.Subscription(path=path, mode=mode, sample_interval=0)], encoding=gnmi_pb2.JSON))

    streams = [stub.Subscribe(iter([subscription(gnmi_pb2.SAMPLE if i % 2 else gnmi_pb2.ON_CHANGE)]), timeout=60)
               for i in range(12)]

    def read(stream):
        try:
            for response in stream:
                count("updates", len(response.update.update))
        except grpc.RpcError:
            pass  # cancelled at the end

    threads = [threading.Thread(target=scrape) for _ in range(3)] + [threading.Thread(target=get)] + \
        [threading.Thread(target=read, args=(s,)) for s in streams]
    for t in threads:
        t.start()
    try:
        assert wait_until(lambda: served["scrapes"] > 8 and served["gets"] > 1 and served["updates"] > 0, 20)
        busy = per_tick(pipeline, redis_server)
    finally:
        stop.set()
        for s in streams:
            s.cancel()
        for t in threads:
            t.join(10)
        channel.close()
    assert busy == idle, (busy, idle, served)
    assert served["scrapes"] > TICKS  # more consumers than ticks: they shared the Snapshots
