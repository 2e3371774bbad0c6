"""Run the port probes alone on named netdevs until SIGTERM/SIGINT (tests, benches, debugging).

    python -m sonic_agent.probes [--pin-dir DIR] [--sample N] [--read-interval S] IFNAME...

Prints one JSON line once attached ({"pid", "ports", "drops"}), then reads the probes each
`--read-interval` seconds as the agent does (`ProbeManager.read`; 0: never); on the signal it
detaches everything and exits 0. A SIGKILL leaves the programs for the next start to find.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

from ..config import ProbesConfig
from ..errors import UserError
from ..logs import setup_logging
from .manager import ProbeManager


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sonic_agent.probes")
    parser.add_argument("ifnames", nargs="+")
    parser.add_argument("--pin-dir", default=ProbesConfig.pin_dir)
    parser.add_argument("--sample", type=int, default=ProbesConfig.top_talker_sample)
    parser.add_argument("--read-interval", type=float, default=0.0)
    parser.add_argument("--talkers-per-port", type=int, default=10)
    args = parser.parse_args(argv)
    setup_logging("info", "json")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        manager = ProbeManager(ProbesConfig(pin_dir=args.pin_dir, top_talker_sample=args.sample))
    except UserError as exc:
        print(f"probes: {exc}", file=sys.stderr)
        return exc.exit_code
    try:
        manager.sync(args.ifnames)
        print(json.dumps({"pid": os.getpid(), "drops": manager.drops_status,
                          "ports": {n: a.ingress for n, a in manager.ports.items()}}), flush=True)
        while not stop.wait(args.read_interval or None):
            manager.read(args.talkers_per_port)
    finally:
        manager.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
