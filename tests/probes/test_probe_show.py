"""`show probes` reads the pinned maps of a running probe process, as table and JSON."""
from __future__ import annotations

import json

import pytest

from sonic_agent import cli
from sonic_agent.errors import UserError
from sonic_agent.probes import show
from tests.conftest import wait_until

from .conftest import netns, send_frames
from .frames import FRAMES
from .test_probe_lifecycle import start_agent

pytestmark = pytest.mark.root


def test_show_probes_reads_a_running_agent(probed_pair, monkeypatch, capsys):
    ns_a, dev_a, ns_b, dev_b, pin_dir = probed_pair
    agent = start_agent(ns_a, pin_dir, dev_a)
    try:
        frames = dict(FRAMES)
        send_frames(ns_b, dev_b, [frames["lldp"]] * 2 + [frames["bgp"]] * 3)
        monkeypatch.setenv("TELEGEN_PROBES__PIN_DIR", pin_dir)
        with netns(ns_a):  # interface names resolve in the agent's namespace
            assert wait_until(lambda: show.collect(pin_dir)["ports"][0]["classes"]["bgp"]["packets"] == 3)
            assert cli.main(["show", "probes", "--format", "json"]) == 0
            doc = json.loads(capsys.readouterr().out)
            assert cli.main(["show", "probes"]) == 0
            lines = capsys.readouterr().out.splitlines()
        with pytest.raises(UserError, match="run it in the agent's network namespace"):
            show.collect(pin_dir)  # from the test's own namespace, ifindexes would name other ports
    finally:
        agent.terminate()
        agent.wait(10)
    assert [(r["port"], r["direction"]) for r in doc["ports"]] == [(dev_a, "rx"), (dev_a, "tx")]
    rx = doc["ports"][0]["classes"]
    assert (rx["lldp"]["packets"], rx["bgp"]["packets"], rx["bgp"]["bytes"]) == (2, 3, 3 * len(frames["bgp"]))
    assert sum(c["packets"] for c in rx.values()) == 5
    assert sum(c["packets"] for c in doc["ports"][1]["classes"].values()) == 0
    assert lines[1:] == [f"{dev_a:<16} rx  {'lldp':<10} {2:>14} {2 * len(frames['lldp']):>16}",
                         f"{dev_a:<16} rx  {'bgp':<10} {3:>14} {3 * len(frames['bgp']):>16}"]


def test_show_probes_without_an_agent_says_so(pin_dir):
    with pytest.raises(UserError, match="no probe maps under"):
        show.collect(pin_dir)
