"""Benchmark the SONiC model: build from a generated 512-port switch, then follow 10,000 updates.

Starts its own redis-server (unix socket, keyspace notifications on), loads a generated
CONFIG_DB with 512 ports, 64 PortChannels and 256 VLANs (plus APPL/STATE/COUNTERS_DB),
times `SwitchModel.start()` until synced and the typed view built, then writes 10,000
distinct port description updates and times until the model has applied every one of them.
Targets: build_s < 1, updates_per_s >= 5000. Last line: `key=value ...`.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sonic_agent.sonic.dbconfig import load_database_config  # noqa: E402
from sonic_agent.sonic.model import SwitchModel  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402
from tests.sonic.generated import generate_switch, load_switch  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, default=512)
    parser.add_argument("--portchannels", type=int, default=64)
    parser.add_argument("--vlans", type=int, default=256)
    parser.add_argument("--updates", type=int, default=10_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            path = str(server.write_database_config())
            dumps = generate_switch(args.ports, args.portchannels, args.vlans)
            load_switch(load_database_config(path), dumps)
            keys = sum(server.client(db).dbsize() for db in (0, 2, 4, 6))

            model = SwitchModel.from_paths(path)
            started = time.perf_counter()
            model.start()
            if not model.wait_synced(30):
                print("model did not sync", file=sys.stderr)
                return 1
            ports = len(model.ports())  # builds the typed view
            build_s = time.perf_counter() - started

            names = list(dumps["CONFIG_DB"]["PORT"])
            last = {names[i % len(names)]: f"update {i}" for i in range(args.updates)}
            client = server.client(4)
            before = model.updates_applied()
            started = time.perf_counter()
            pipe = client.pipeline(transaction=False)
            for i in range(args.updates):
                pipe.hset(f"PORT|{names[i % len(names)]}", "description", f"update {i}")
            pipe.execute()
            while model.updates_applied() - before < args.updates:
                time.sleep(0.001)
            apply_s = time.perf_counter() - started
            final = {p.name: p.description for p in model.ports()}
            model.stop()
            if any(final[name] != text for name, text in last.items()):
                print("model missed an update", file=sys.stderr)
                return 1
        finally:
            server.stop()
    print(f"ports={ports} portchannels={args.portchannels} vlans={args.vlans} redis_keys={keys} "
          f"updates={args.updates}")
    print(f"build_s={build_s:.3f} updates_per_s={args.updates / apply_s:.0f} apply_s={apply_s:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
