"""Live following: keyspace changes reach the model within 1 s; a redis restart is survived."""
from __future__ import annotations

import threading
from typing import List

from sonic_agent.catalogue import CATALOGUE
from sonic_agent.sonic.dbconfig import load_database_config
from sonic_agent.sonic import follower
from sonic_agent.sonic.follower import Change
from sonic_agent.sonic.model import SwitchModel
from tests.conftest import RedisServer, wait_until
from tests.sonic.generated import generate_switch, load_switch

CONFIG_DB, APPL_DB, STATE_DB = 4, 0, 6


class Recorder:
    def __init__(self):
        self.changes: List[Change] = []
        self.lock = threading.Lock()

    def __call__(self, changes: List[Change]) -> None:
        with self.lock:
            self.changes.extend(changes)

    def seen(self, **match) -> bool:
        with self.lock:
            return any(all(getattr(c, k) == v for k, v in match.items()) for c in self.changes)


def started_model(server: RedisServer, dumps: dict) -> SwitchModel:
    path = server.write_database_config()
    load_switch(load_database_config(str(path)), dumps)
    model = SwitchModel.from_paths(str(path))
    model.start()
    assert model.wait_synced(10)
    return model


def test_changes_reach_the_model_within_1s(redis_server):
    model = started_model(redis_server, generate_switch(ports=16, portchannels=2, vlans=4))
    recorder = Recorder()
    model.subscribe(recorder)
    cfg = redis_server.client(CONFIG_DB)
    try:
        cfg.hset("PORT|Ethernet8", "description", "moved to rack 7")
        assert wait_until(lambda: model.port("Ethernet8").description == "moved to rack 7", 1.0)
        assert wait_until(lambda: recorder.seen(db="CONFIG_DB", table="PORT", key="Ethernet8", op="set"), 1.0)

        cfg.hset("VLAN_MEMBER|Vlan101|Ethernet60", mapping={"tagging_mode": "tagged"})
        assert wait_until(lambda: "Vlan101" in [v.name for v in model.vlans_of("Ethernet60")], 1.0)
        vlan = next(v for v in model.vlans() if v.name == "Vlan101")
        assert ("Ethernet60", "tagged") in [(m.port, m.tagging_mode) for m in vlan.members]

        assert model.mirror_session_for_stream("10.1.0.1", "10.9.0.1", 0x88BE).name == "everflow"
        cfg.delete("MIRROR_SESSION|everflow")
        assert wait_until(lambda: "everflow" not in [s.name for s in model.mirror_sessions()], 1.0)
        assert model.mirror_session_for_stream("10.1.0.1", "10.9.0.1", 0x88BE) is None
        assert wait_until(lambda: recorder.seen(table="MIRROR_SESSION", key="everflow", op="del"), 1.0)

        redis_server.client(APPL_DB).hset("PORT_TABLE:Ethernet0", "oper_status", "up")
        assert wait_until(lambda: model.port("Ethernet0").oper_status == "up", 1.0)
        redis_server.client(STATE_DB).hset("MIRROR_SESSION_TABLE|span", "status", "active")
        assert wait_until(lambda: model.span_session_for("Ethernet60").status == "active", 1.0)
        # A table the model does not follow reaches neither the model nor the subscribers.
        cfg.hset("ACL_TABLE|DATAACL", "type", "L3")
        cfg.hset("PORT|Ethernet12", "description", "marker")
        assert wait_until(lambda: recorder.seen(key="Ethernet12"), 1.0)
        assert not recorder.seen(table="ACL_TABLE")
    finally:
        model.stop()


def test_redis_restart_is_survived_with_a_resync(redis_server):
    dumps = generate_switch(ports=16, portchannels=2, vlans=4)
    model = started_model(redis_server, dumps)
    recorder = Recorder()
    model.subscribe(recorder)
    try:
        assert [s.connected for s in model.connection_states()] == [True]
        redis_server.stop()
        assert wait_until(lambda: not model.connection_states()[0].connected, 5)
        assert model.port("Ethernet0") is not None  # the last known state keeps serving

        # Same socket, new process (as `config reload` or a warm reboot would), data changed.
        redis_server.start()
        dumps["CONFIG_DB"]["PORT"]["Ethernet0"]["description"] = "after restart"
        del dumps["CONFIG_DB"]["MIRROR_SESSION"]["span"]
        load_switch(load_database_config(str(redis_server.dir / "database_config.json")), dumps)
        assert wait_until(lambda: model.connection_states()[0].connected, 10)
        assert wait_until(lambda: model.port("Ethernet0").description == "after restart", 5)
        assert wait_until(lambda: model.span_session_for("Ethernet60") is None, 5)
        state = model.connection_states()[0]
        assert state.reconnects == 1 and state.last_error
        assert recorder.seen(op="resync", db="CONFIG_DB")
        # ... and it follows changes again.
        redis_server.client(CONFIG_DB).hset("PORT|Ethernet4", "description", "live again")
        assert wait_until(lambda: model.port("Ethernet4").description == "live again", 1.0)
    finally:
        model.stop()


def test_redis_absent_at_start_is_retried(tmp_path):
    server = RedisServer(tmp_path)
    path = server.write_database_config()
    model = SwitchModel(  # reconnect cap small, so the test does not wait long
        [load_database_config(str(path))], reconnect_max_s=0.5)
    model.start()
    try:
        assert not model.wait_synced(0.5)
        assert model.connection_states()[0].connected is False
        server.start()
        load_switch(load_database_config(str(path)), generate_switch(ports=4, portchannels=1, vlans=1))
        assert model.wait_synced(10)
        assert wait_until(lambda: len(model.ports()) == 4, 5)
    finally:
        model.stop()
        server.stop()


def test_stop_interrupts_the_backoff(tmp_path, monkeypatch):
    monkeypatch.setattr(follower, "backoff_delay", lambda failures, cap: 3600.0)
    server = RedisServer(tmp_path)  # never started: the follower goes straight into its backoff
    model = SwitchModel([load_database_config(str(server.write_database_config()))])
    model.start()
    assert wait_until(lambda: model.connection_states()[0].last_error != "", 5)
    model.stop(timeout=5)
    assert not any(f.is_alive() for f in model._followers)


def test_an_unexpected_error_resyncs_instead_of_stopping(redis_server, monkeypatch):
    model = started_model(redis_server, generate_switch(ports=4, portchannels=1, vlans=1))
    real, calls = follower.classify, []

    def broken_once(db, key):
        calls.append(key)
        if len(calls) == 1:
            raise ValueError("unexpected")
        return real(db, key)

    monkeypatch.setattr(follower, "classify", broken_once)
    try:
        redis_server.client(CONFIG_DB).hset("PORT|Ethernet0", "description", "first")
        assert wait_until(lambda: model.connection_states()[0].last_error == "ValueError: unexpected", 2)
        # The resync after the failure picks the change up, and following goes on.
        assert wait_until(lambda: model.port("Ethernet0").description == "first", 5)
        redis_server.client(CONFIG_DB).hset("PORT|Ethernet4", "description", "second")
        assert wait_until(lambda: model.port("Ethernet4").description == "second", 5)
        assert model.connection_states()[0].connected
    finally:
        model.stop()


def test_config_reload_resyncs_config_db(redis_server):
    """FLUSHDB raises no per-key notification; CONFIG_DB_INITIALIZED set afterwards does."""
    dumps = generate_switch(ports=8, portchannels=1, vlans=2)
    model = started_model(redis_server, dumps)
    recorder = Recorder()
    model.subscribe(recorder)
    cfg = redis_server.client(CONFIG_DB)
    try:
        cfg.set("CONFIG_DB_INITIALIZED", "0")
        cfg.flushdb()
        smaller = generate_switch(ports=4, portchannels=1, vlans=1)
        load_switch(load_database_config(str(redis_server.dir / "database_config.json")),
                    {"CONFIG_DB": smaller["CONFIG_DB"]})
        cfg.set("CONFIG_DB_INITIALIZED", "1")
        assert wait_until(lambda: len(model.ports()) == 4 and len(model.vlans()) == 1, 1.0)
        assert recorder.seen(db="CONFIG_DB", op="resync")
    finally:
        model.stop()


def test_a_deleted_port_leaves_the_counters_though_counters_db_keeps_it(redis_server):
    """COUNTERS_DB outlives a CONFIG_DB delete (syncd removes its entries later, or never): the
    model reports counters and queues only for ports CONFIG_DB has."""
    model = started_model(redis_server, generate_switch(ports=4, portchannels=1, vlans=1))
    try:
        ports, queues = model.read_counters(CATALOGUE)
        assert {c.port for c in ports} == {"Ethernet0", "Ethernet4", "Ethernet8", "Ethernet12"}
        queues = {(q.port, q.queue, q.type) for q in queues if "queue.packets" in q.values}
        assert {(p, q, k) for p, q, k in queues if p == "Ethernet4"} == {
            ("Ethernet4", 0, "unicast"), ("Ethernet4", 1, "unicast"), ("Ethernet4", 2, "multicast")}

        redis_server.client(CONFIG_DB).delete("PORT|Ethernet4")
        assert wait_until(lambda: model.port("Ethernet4") is None, 1.0)
        assert "Ethernet4" in model.port_oids()  # still in COUNTERS_PORT_NAME_MAP
        ports, queues = model.read_counters(CATALOGUE)
        assert {c.port for c in ports} == {"Ethernet0", "Ethernet8", "Ethernet12"}
        assert {q.port for q in queues} == {"Ethernet0", "Ethernet8", "Ethernet12"}
    finally:
        model.stop()
