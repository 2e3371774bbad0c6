"""The host's Linux under node_exporter's names, against /proc and statvfs read here."""
from __future__ import annotations

import os

import pytest
import requests
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from sonic_agent.pipeline import Pipeline
from tests.sonic.generated import generate_switch, generated_agent

TICK_S = 0.5


@pytest.fixture
def scrape(redis_server):
    cfg = generated_agent(redis_server, generate_switch(ports=2, portchannels=0, vlans=0), TICK_S)
    cfg.host.refresh_s = TICK_S
    pipe = Pipeline(cfg)
    pipe.start()
    port = pipe.exporters[0].port

    def get():
        text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5,
                            headers={"Accept": "application/openmetrics-text"}).text
        return [s for f in text_string_to_metric_families(text) for s in f.samples]
    yield get
    pipe.stop()


def proc_cpu_seconds() -> dict:
    out = {}
    with open("/proc/stat") as fh:
        for line in fh:
            name, *ticks = line.split()
            if name.startswith("cpu") and name != "cpu":
                for mode, value in zip(("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"), ticks):
                    out[(name[3:], mode)] = int(value) / os.sysconf("SC_CLK_TCK")
    return out


def test_host_metrics_agree_with_proc(scrape):
    before = proc_cpu_seconds()
    samples = scrape()
    after = proc_cpu_seconds()
    cpu = {(s.labels["cpu"], s.labels["mode"]): s.value for s in samples if s.name == "node_cpu_seconds_total"}
    assert set(cpu) == set(before)
    for key, value in cpu.items():  # read at most one tick (plus this scrape) before `before`
        assert before[key] - TICK_S - 0.5 <= value <= after[key], (key, before[key], value, after[key])
    memory = {s.name: s.value for s in samples if s.name.startswith("node_memory_")}
    with open("/proc/meminfo") as fh:
        meminfo = {line.split(":")[0]: int(line.split()[1]) * 1024 for line in fh}
    assert memory["node_memory_MemTotal_bytes"] == meminfo["MemTotal"]  # exact
    assert memory["node_memory_SwapTotal_bytes"] == meminfo["SwapTotal"]
    uname = next(s.labels for s in samples if s.name == "node_uname_info")
    assert (uname["release"], uname["machine"]) == (os.uname().release, os.uname().machine)
    root = os.statvfs("/")
    size = next(s.value for s in samples if s.name == "node_filesystem_size_bytes" and s.labels["mountpoint"] == "/")
    assert size == root.f_blocks * root.f_frsize
    assert not [s for s in samples if s.name == "node_filesystem_size_bytes" and s.labels["fstype"] in ("proc", "sysfs")]
    boot = next(s.value for s in samples if s.name == "node_boot_time_seconds")
    with open("/proc/stat") as fh:
        assert boot == next(int(line.split()[1]) for line in fh if line.startswith("btime "))
    assert {s.name for s in samples} >= {"node_load1", "node_load5", "node_load15", "node_disk_read_bytes_total",
                                         "node_time_seconds"}


def test_an_odd_proc_costs_only_its_odd_lines(tmp_path):
    """A /proc written by a hostile or broken kernel module: blank lines, a bad btime, NUL and
    non-UTF-8 bytes, network and FUSE mounts (statvfs could block on them), a mountpoint
    mounted twice (the last mount is the one seen) and escaped spaces."""
    from sonic_agent.hoststats import read_host
    proc, root = tmp_path / "proc", tmp_path / "root"
    (proc / "sys" / "kernel").mkdir(parents=True)
    (root / "data dir").mkdir(parents=True)
    (proc / "stat").write_bytes(b"\ncpu  1 2 3\ncpu0 100 x 50 \xff\xfe\nbtime nope\nbtime 1700000000 extra\n")
    (proc / "loadavg").write_text("0.5 nan\n")
    (proc / "meminfo").write_text("MemTotal: 1024 kB\nMemFree:\nbogus\n")
    (proc / "mounts").write_text(
        "server:/export / nfs4 rw 0 0\n"
        "sshfs#me@host: /mnt fuse.sshfs rw 0 0\n"
        "/dev/sda1 /data\\040dir ext4 rw 0 0\n"
        "/dev/sdb1 /data\\040dir xfs rw 0 0\n"
        "/dev/sdc1 /no\\000such ext4 rw 0 0\n"
        "short line\n")
    rows = read_host(str(proc), str(root))
    assert {r.key: r.values for r in rows["host_cpu"]} == {
        ("0", "user"): {"host.cpu.seconds": 100 / os.sysconf("SC_CLK_TCK")},
        ("0", "system"): {"host.cpu.seconds": 50 / os.sysconf("SC_CLK_TCK")}}
    system = rows["host"][0].values
    assert "host.boot_time" not in system and system["host.load1"] == 0.5 and "host.load5" not in system
    assert system["host.memory.MemTotal"] == 1024 * 1024 and "host.memory.MemFree" not in system
    assert [r.key for r in rows["host_filesystem"]] == [("/dev/sdb1", "xfs", "/data dir")]
