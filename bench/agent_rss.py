"""Resident memory of the whole agent on a 64-port lab with probes attached, after a minute.

Builds a lab switch with 64 ports (plus a PortChannel, a VLAN and an ERSPAN session), runs
`telegen-sonic run` in its namespace with its default config (probes on every port,
Prometheus) or, with --full, also the AF_PACKET mirror source on eth0 and gNMI; sends the
lab's control-plane mix and data traffic (everflow0's ports are mirrored by the lab) for the
whole run and scrapes /metrics every second, as Prometheus would. Reports the agent's VmRSS,
whether any LLVM/clang/BCC library is mapped in it, and the baseline: an interpreter that
imports the same agent modules and does nothing, same run.
Target: rss_mb <= 100. Last line: `rss_mb=... anon_mb=... file_mb=... baseline_mb=... ratio=...
llvm_mapped=...`.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from telegen_lab.control import DEFAULT_CONFIG_DB, lab_down, lab_up  # noqa: E402
from telegen_lab.topology import LabLayout  # noqa: E402

AGENT_IMPORTS = ("import sonic_agent.pipeline, sonic_agent.probes.manager, sonic_agent.mirror.source, "
                 "sonic_agent.export.prometheus, sonic_agent.export.gnmi, sys; sys.stdin.read()")


def rss_mb(pid: int) -> dict:
    """VmRSS and its parts: RssAnon (the process's own memory) and RssFile (mapped file pages:
    shared libraries; how many are mapped follows the page cache, so freshly installed
    libraries read higher than long-cached ones)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "RssAnon", "RssFile")}


def llvm_mapped(pid: int) -> bool:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return any(lib in maps for lib in ("libLLVM", "libclang", "libbcc"))


def config_db(ports: int) -> dict:
    dump = json.loads(DEFAULT_CONFIG_DB.read_text())
    dump["PORT"] = {f"Ethernet{4 * i}": {"alias": f"etp{i + 1}", "lanes": ",".join(str(4 * i + k) for k in range(4)),
                                         "speed": "100000", "mtu": "9100", "index": str(i + 1), "admin_status": "up"}
                    for i in range(ports)}
    return dump


def scrape(ns: str) -> int:
    code = "import urllib.request;print(len(urllib.request.urlopen('http://127.0.0.1:9110/metrics',timeout=5).read()))"
    out = subprocess.run(["nsenter", f"--net=/run/netns/{ns}", sys.executable, "-c", code],
                         capture_output=True, text=True)
    return int(out.stdout or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=64)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--full", action="store_true", help="also the mirror source and gNMI (off by default)")
    args = parser.parse_args()
    layout = LabLayout("r" + uuid.uuid4().hex[:5])
    workdir = Path(tempfile.mkdtemp(prefix="agent-rss-"))
    (workdir / "config_db.json").write_text(json.dumps(config_db(args.ports)))
    (workdir / "agent.yaml").write_text(yaml.safe_dump({
        "sonic": {"database_config": str(layout.db_config)},
        "probes": {"pin_dir": f"/sys/fs/bpf/telegen-bench-{layout.name}"},
        "mirror": {"enabled": args.full, "interface": "eth0", "mode": "afpacket"},
        "export": {"gnmi": {"enabled": args.full}},
    }))
    procs = []
    try:
        lab_up(layout, str(workdir / "config_db.json"))
        agent = subprocess.Popen(["nsenter", f"--net=/run/netns/{layout.switch_ns}", sys.executable, "-m",
                                  "sonic_agent", "run", "--config", str(workdir / "agent.yaml")],
                                 stdout=subprocess.DEVNULL, stderr=open(workdir / "agent.log", "w"))
        baseline = subprocess.Popen([sys.executable, "-c", AGENT_IMPORTS], stdin=subprocess.PIPE)
        procs += [agent, baseline]
        for kind in ("control", "data"):  # data crossing everflow0's ports: the lab mirrors it
            procs.append(subprocess.Popen([sys.executable, "-m", "sonic_agent", "lab", "--name", layout.name,
                                           "traffic", "--kind", kind, "--count", "0", "--interval", "0.5"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        start, sizes = time.monotonic(), []
        while time.monotonic() - start < args.duration:
            time.sleep(1)
            sizes.append(scrape(layout.switch_ns))
            if agent.poll() is not None:
                print(f"agent exited with {agent.returncode}; see {workdir}/agent.log", file=sys.stderr)
                return 1
        attached = subprocess.run(["bpftool", "net", "-j"], capture_output=True, text=True)
        rss, base, llvm = rss_mb(agent.pid), rss_mb(baseline.pid)["VmRSS"], llvm_mapped(agent.pid)
        print(f"ports={args.ports} scrapes={sum(1 for s in sizes if s)} last_scrape_bytes={sizes[-1]} "
              f"bpftool_rc={attached.returncode}")
        print(f"rss_mb={rss['VmRSS']:.1f} anon_mb={rss['RssAnon']:.1f} file_mb={rss['RssFile']:.1f} "
              f"baseline_mb={base:.1f} ratio={rss['VmRSS'] / base:.2f} llvm_mapped={'yes' if llvm else 'no'} "
              f"ports={args.ports} duration_s={args.duration:.0f} config={'full' if args.full else 'default'}")
        return 0
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        lab_down(layout)
        subprocess.run(["rm", "-rf", f"/sys/fs/bpf/telegen-bench-{layout.name}"], check=False)


if __name__ == "__main__":
    raise SystemExit(main())
