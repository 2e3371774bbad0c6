"""`telegen-sonic lab run`: the main job. Lab up, the agent on it, traffic, and a live terminal
view of what the agent exports, until Ctrl-C (or --duration); then everything is torn down.

The view reads the agent's own Prometheus endpoint, so it shows what the agent sees, not
what the lab wrote: ports with admin/oper state and rates, CPU-bound classes from the probes,
mirror sessions and top flows.
"""
from __future__ import annotations

import secrets
import signal
import sys
import time
import urllib.request
from collections import defaultdict
from typing import Dict, List

import yaml
from prometheus_client.parser import text_string_to_metric_families
from pyroute2.netns import popns, pushns
from sonic_agent.sonic.view import natural_key

from . import processes
from .control import lab_down, lab_up
from .topology import LabLayout

PROMETHEUS_LISTEN = "127.0.0.1:9110"
GNMI_LISTEN = "127.0.0.1:50051"
JOBS_LISTEN = "127.0.0.1:9120"


def agent_config(layout: LabLayout) -> dict:
    """The agent's config for the lab: the lab's redis, probes on its ports, mirror on eth0,
    mirror jobs on the namespace's loopback (a fresh token in the lab dir)."""
    token = layout.dir / "jobs.token"
    token.write_text(secrets.token_hex(16) + "\n")
    token.chmod(0o600)
    return {
        "log_format": "json",
        "sonic": {"database_config": str(layout.db_config)},
        "probes": {"pin_dir": str(layout.bpf_pin_dir)},
        "mirror": {"enabled": True, "interface": "eth0", "mode": "xdp"},
        "export": {"prometheus": {"listen": PROMETHEUS_LISTEN},
                   "gnmi": {"enabled": False, "listen": GNMI_LISTEN}},
        "jobs": {"enabled": True, "listen": JOBS_LISTEN, "token_file": str(token),
                 "journal": str(layout.dir / "jobs.json")},
    }


def start_agent_and_traffic(layout: LabLayout) -> None:
    config_path = layout.dir / "agent.yaml"
    config_path.write_text(yaml.safe_dump(agent_config(layout)))
    processes.spawn(layout, "agent", processes.python_module("sonic_agent", "run", "--config", str(config_path)),
                    netns=layout.switch_ns)
    for kind in ("control", "data"):  # data crossing everflow0's ports is mirrored by the lab
        processes.spawn(layout, f"traffic-{kind}", processes.python_module(
            "sonic_agent", "lab", "--name", layout.name, "traffic", "--kind", kind, "--count", "0",
            "--interval", "1"))


def scrape(url: str) -> Dict[str, List]:
    """{metric family name: samples} from the agent's /metrics, {} while it is not up."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def render(metrics: Dict[str, List], layout: LabLayout, started: float) -> List[str]:
    """The screen, as lines, from one scrape."""
    lines = [f"telegen-sonic lab '{layout.name}'  up {time.monotonic() - started:5.0f}s   (Ctrl-C tears it all down)",
             f"  agent metrics: http://{PROMETHEUS_LISTEN}/metrics   gNMI: {GNMI_LISTEN}   "
             f"(inside netns: ip netns exec {layout.switch_ns} curl -s http://{PROMETHEUS_LISTEN}/metrics)",
             f"  redis: {layout.db_config}   logs: {layout.dir}/*.log", ""]
    if not metrics:
        return lines + ["  waiting for the agent's first scrape ..."]
    device = next(iter(metrics.get("sonic_device_info", [])), None)
    if device is not None:
        lines[0] += f"   switch {device.labels.get('hostname')} ({device.labels.get('hwsku')})"
    rows: Dict[str, dict] = defaultdict(dict)
    for sample in metrics.get("sonic_port_info", []):
        rows[sample.labels["port"]].update(alias=sample.labels.get("alias", ""), lag=sample.labels.get("lag", ""))
    for family, key in (("sonic_port_admin_up", "admin"), ("sonic_port_oper_up", "oper")):
        for sample in metrics.get(family, []):
            rows[sample.labels["port"]][key] = "up" if sample.value else "down"
    for sample in metrics.get("sonic_port_rate_packets_per_second", []):
        rows[sample.labels["port"]][sample.labels["direction"] + "_pps"] = sample.value
    classes: Dict[str, Dict[str, float]] = defaultdict(dict)
    for sample in metrics.get("telegen_probe_packets", []):
        if sample.labels.get("direction") == "rx" and sample.value:
            classes[sample.labels["port"]][sample.labels["class"]] = sample.value
    lines.append(f"  {'PORT':<16}{'ALIAS':<8}{'ADMIN':<6}{'OPER':<6}{'LAG':<16}{'RX pps':>9}{'TX pps':>9}   CPU-bound rx (probes)")
    for port in sorted(rows, key=natural_key):
        r = rows[port]
        top = sorted(classes.get(port, {}).items(), key=lambda kv: -kv[1])[:6]
        lines.append(f"  {port:<16}{r.get('alias', ''):<8}{r.get('admin', '-'):<6}{r.get('oper', '-'):<6}"
                     f"{r.get('lag', ''):<16}{r.get('rx_pps', 0):>9.1f}{r.get('tx_pps', 0):>9.1f}   "
                     + " ".join(f"{c}={v:.0f}" for c, v in top))
    sessions = metrics.get("telegen_mirror_packets", [])
    if sessions:
        lines += ["", "  mirror sessions:"] + [
            f"    {s.labels.get('session') or '?'} {s.labels.get('outer_src')}->{s.labels.get('outer_dst')} packets={s.value:.0f}"
            for s in sessions]
    return lines


def main(args) -> int:
    layout = LabLayout(args.name)
    stop = {"now": False}
    signal.signal(signal.SIGTERM, lambda *_: stop.update(now=True))
    started = time.monotonic()
    lab_up(layout, args.config_db)  # refuses, and changes nothing, when that lab is already up
    try:
        start_agent_and_traffic(layout)
        pushns(layout.switch_ns)  # the agent's endpoints listen on the lab switch's loopback
        try:
            while not stop["now"] and (not args.duration or time.monotonic() - started < args.duration):
                screen = render(scrape(f"http://{PROMETHEUS_LISTEN}/metrics"), layout, started)
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(screen) + "\n" if sys.stdout.isatty()
                                 else "\n".join(screen) + "\n\n")
                sys.stdout.flush()
                time.sleep(1)
        finally:
            popns()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the teardown short
        lab_down(layout)
        print(f"lab '{layout.name}' torn down")
    return 0
