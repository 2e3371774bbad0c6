"""The lab against what broke it: a name that is a path (`lab --name ../x down` deleted outside
the lab's directory), a redis restart (the state daemon died), a port removed under a traffic
generator (it died), bad --interval values (tracebacks)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid

import pytest

from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab import processes
from telegen_lab.control import DEFAULT_CONFIG_DB
from telegen_lab.topology import LAB_ROOT
from sonic_agent.sonic.encoding import load_dump

from .conftest import built_in_lab, require_root, wait_until


def cli(*argv, timeout=120):
    return subprocess.run([sys.executable, "-m", "sonic_agent", *argv], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", ["../tgcanary", "/tmp", "a/b", "x" * 13, "Upper", "-x", ""])
def test_a_lab_name_that_is_not_a_name_is_refused(name):
    require_root()
    canary = LAB_ROOT.parent / f"tgcanary-{uuid.uuid4().hex[:6]}"
    canary.mkdir(parents=True)
    (canary / "keep").write_text("x")
    try:
        name = name.replace("tgcanary", canary.name)
        for verb in (["down"], ["status"], ["traffic", "--count", "1"]):
            result = cli("lab", f"--name={name}", *verb)
            assert result.returncode == 2, result.stderr
            assert result.stderr.strip().splitlines() == [
                f"telegen-sonic: lab: --name {name[:40]!r}: 1-12 lower-case letters, digits or '-', "
                "starting with a letter or digit"]
        assert (canary / "keep").exists()
    finally:
        (canary / "keep").unlink()
        canary.rmdir()


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e300", "soon"])
def test_bad_interval_values_are_one_line(value):
    result = cli("lab", "traffic", "--interval", value)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "argument --interval: " in result.stderr


def config_db_and_state(layout):
    dbs = load_database_config(str(layout.db_config))
    return dbs, dbs.connect("CONFIG_DB"), dbs.connect("STATE_DB")


def test_labd_survives_a_redis_restart():
    with built_in_lab("h") as layout:
        labd = processes.running(layout)["labd"]
        dbs, config, state = config_db_and_state(layout)
        ports = {k.split("|", 1)[1] for k in config.keys("PORT|*")}
        server = processes.running(layout)[processes.REDIS]
        os.kill(server, signal.SIGTERM)
        assert wait_until(lambda: server not in processes.running(layout).values(), 10)
        log = layout.dir / "labd.log"
        assert wait_until(lambda: "redis unavailable; retrying" in log.read_text(), 10)
        assert processes.running(layout).get("labd") == labd
        processes.start_redis(layout)  # a restarted redis is empty, as SONiC's is before config reload
        dbs, config, state = config_db_and_state(layout)
        load_dump(config, json.loads(DEFAULT_CONFIG_DB.read_text()), dbs.db("CONFIG_DB").separator)
        config.set("CONFIG_DB_INITIALIZED", "1")
        assert wait_until(lambda: all(state.exists(f"PORT_TABLE|{p}") for p in ports), 15), "state not rewritten"
        counters = dbs.connect("COUNTERS_DB")
        assert wait_until(lambda: set(counters.hkeys("COUNTERS_PORT_NAME_MAP")) == ports, 10)
        assert processes.running(layout).get("labd") == labd
        assert wait_until(lambda: state.hget("MIRROR_SESSION_TABLE|everflow0", "status") == "active", 10), \
            "the lab's ASIC mirror no longer follows CONFIG_DB"
        assert "Traceback" not in log.read_text()


def test_traffic_survives_a_port_removed_under_it():
    with built_in_lab("h") as layout:
        _, config, _ = config_db_and_state(layout)
        before = tx_packets(layout, "Ethernet4")  # the kernel's own (IPv6 autoconfiguration) included
        traffic = subprocess.Popen([sys.executable, "-m", "sonic_agent", "lab", "--name", layout.name, "traffic",
                                    "--kind", "control", "--count", "60", "--interval", "0.05"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        fields = config.hgetall("PORT|Ethernet4")
        # sending when the port goes: a few rounds of 16 frames out, far more than the kernel's own
        assert wait_until(lambda: tx_packets(layout, "Ethernet4") > before + 100, 30)
        config.delete("PORT|Ethernet4")
        out, err = traffic.communicate(timeout=120)
        config.hset("PORT|Ethernet4", mapping=fields)
        assert traffic.returncode == 0, err[-2000:]
        assert "Traceback" not in err
        assert "not sent: Ethernet4 removed)" in out, out


def tx_packets(layout, port: str) -> int:
    out = subprocess.run(["ip", "-n", layout.neighbor_ns, "-s", "-j", "link", "show", port],
                         capture_output=True, text=True)
    return json.loads(out.stdout)[0]["stats64"]["tx"]["packets"] if out.returncode == 0 else 0
