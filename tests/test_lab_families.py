"""The SONiC families on the lab, with the platform its state daemon generates (no ../shared):
BGP neighbor state follows a neighbor link within 2 s, and the CPU-path series is the
difference between what the ASIC trapped and what the probes saw arrive.

The lab's CPU traps count the frames that arrive on its port netdevs (telegen_lab.platform);
the test then has the lab's "ASIC" trap more LLDP frames than reach the kernel (LAB_TRAP_LOSS),
and the agent must report exactly that many lost.
"""
from __future__ import annotations

import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import yaml
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sonic_agent.sonic.dbconfig import load_database_config
from telegen_lab.platform import TRAP_LOSS
from tests.conftest import in_netns, wait_until
from tests.probes.conftest import send_frames
from tests.probes.frames import FRAMES

PORT = 9112


def scrape(in_lab) -> dict:
    def get():
        try:
            return requests.get(f"http://127.0.0.1:{PORT}/metrics", timeout=2,
                                headers={"Accept": "application/openmetrics-text"}).text
        except requests.ConnectionError:
            return ""
    text = in_lab(get)
    if not text:
        return {}
    return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("alias", "namespace")))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


@pytest.fixture(scope="module")
def agent(lab, in_lab, tmp_path_factory):
    config = tmp_path_factory.mktemp("agent") / "agent.yaml"
    config.write_text(yaml.safe_dump({
        "sonic": {"database_config": str(lab.db_config)},
        "probes": {"pin_dir": str(lab.bpf_pin_dir) + "-families", "management_interface": None},
        "export": {"prometheus": {"listen": f"127.0.0.1:{PORT}"}}}))
    proc = subprocess.Popen(["nsenter", f"--net=/run/netns/{lab.switch_ns}", sys.executable, "-m", "sonic_agent",
                             "run", "--config", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert wait_until(lambda: proc.poll() is not None or
                          ("sonic_psu_power_watts", (("psu", "PSU 1"),)) in scrape(in_lab), 30), "no platform series"
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        yield proc
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
        subprocess.run(["rm", "-rf", str(lab.bpf_pin_dir) + "-families"], check=False)


def test_generated_platform_is_exported(agent, in_lab):
    got = scrape(in_lab)
    assert got[("sonic_psu_power_watts", (("psu", "PSU 1"),))] == 96.8
    assert ("sonic_psu_temperature_celsius", (("psu", "PSU 2"),)) not in got  # "N/A"
    assert got[("telegen_sonic_fields_unparsed_total", (("field", "temp"), ("table", "PSU_INFO")))] >= 1
    assert got[("sonic_fan_speed_ratio", (("fan", "fan1"),))] == 0.41
    assert got[("sonic_transceiver_rx_power_dbm", (("lane", "4"), ("port", "Ethernet0")))] == -1.9
    assert got[("sonic_system_ready", ())] == 1
    assert got[("sonic_lldp_neighbor_info", (("port", "Ethernet0"), ("remote_chassis_id", "52:54:00:aa:00:00"),
                                             ("remote_management_address", "10.250.1.1"),
                                             ("remote_port_description", "to sw:Ethernet0"),
                                             ("remote_port_id", "eth1"), ("remote_system_name", "nbr-ethernet0")))] == 1
    assert got[("sonic_crm_available", (("resource", "ipv4_route"),))] > 98000


def test_bgp_neighbor_state_follows_its_link_within_two_seconds(lab, agent, in_lab):
    key = ("sonic_bgp_neighbor_established", (("neighbor", "10.0.0.1"), ("vrf", "default")))
    assert wait_until(lambda: scrape(in_lab).get(key) == 1, 10)
    assert scrape(in_lab)[("sonic_bgp_neighbor_info", (("asn", "65200"), ("name", "ARISTA01T2"),
                                                       ("neighbor", "10.0.0.1"), ("state", "ESTABLISHED"),
                                                       ("vrf", "default")))] == 1
    down_at = time.monotonic()
    subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", "Ethernet0", "down"], check=True)
    try:
        assert wait_until(lambda: scrape(in_lab).get(key) == 0, 5)
        took = time.monotonic() - down_at
        assert took < 2.0, took
        assert scrape(in_lab)[("sonic_bgp_neighbor_established", (("neighbor", "10.0.0.3"), ("vrf", "default")))] == 1
    finally:
        subprocess.run(["ip", "-n", lab.neighbor_ns, "link", "set", "Ethernet0", "up"], check=True)
    assert wait_until(lambda: scrape(in_lab).get(key) == 1, 5) is not None


def test_cpu_path_reports_what_was_trapped_but_not_received(lab, agent, in_lab):
    lldp = dict(FRAMES)["lldp"]
    send_frames(lab.neighbor_ns, "Ethernet8", [lldp] * 25)
    trapped = ("telegen_cpu_path_trapped_packets_total", (("class", "lldp"),))
    received = ("telegen_cpu_path_received_packets_total", (("class", "lldp"),))
    lost = ("telegen_cpu_path_lost_packets", (("class", "lldp"),))

    def settled():
        got = scrape(in_lab)
        return got if got.get(trapped, 0) >= 25 and got.get(trapped) == got.get(received) else None
    got = wait_until(settled, 10)
    assert got is not None, scrape(in_lab)
    assert got[lost] == 0
    # the ASIC trapped 7 more LLDP frames than reached the kernel: as if lost on the CPU path
    load_database_config(str(lab.db_config)).connect("COUNTERS_DB").hset(TRAP_LOSS, "lldp", 7)
    assert wait_until(lambda: scrape(in_lab).get(lost) == 7, 5), scrape(in_lab).get(lost)
    got = scrape(in_lab)
    assert got[trapped] - got[received] == 7


def test_kernel_maps_are_read_once_per_tick_whatever_the_scrapes(lab, agent, in_lab):
    """The probes' maps are read by the tick, not by the scrapes: reads per tick are the same
    with nobody scraping between two readings and with three clients scraping back to back."""
    def reads_per_tick() -> float:
        first = scrape(in_lab)
        assert wait_until(lambda: scrape(in_lab)[TICKS] >= first[TICKS] + 3, 10)
        last = scrape(in_lab)
        return (last[READS] - first[READS]) / (last[TICKS] - first[TICKS])

    idle = reads_per_tick()
    stop = threading.Event()

    def hammer() -> int:
        n = 0
        while not stop.is_set():
            requests.get(f"http://127.0.0.1:{PORT}/metrics", timeout=5)
            n += 1
        return n
    with in_netns(lab.switch_ns, threads=3) as run, ThreadPoolExecutor(3) as callers:
        scrapers = [callers.submit(run, hammer) for _ in range(3)]
        try:
            busy = reads_per_tick()
        finally:
            stop.set()
            scraped = sum(f.result() for f in scrapers)
    assert idle == busy and idle == int(idle) > 0, (idle, busy)
    assert scraped > 3 * 3  # more scrapes than ticks


TICKS = ("telegen_agent_snapshot_ticks_total", ())
READS = ("telegen_agent_probes_map_reads_total", ())
