"""Per-frame cost of the port probe's XDP program next to an empty XDP program, same run.

BPF_PROG_TEST_RUN runs each program 1,000,000 times on one frame (BGP, ARP, LLDP, IPv4 UDP,
IPv6 TCP) and the kernel reports the mean ns per run. The probe runs as the agent runs it:
its port entry present (the counting path, checked afterwards: every run counted in the
right class) and top talkers sampled 1 in `--sample`. The same frames with every frame
updating the top-talker LRU map (`--sample 1`) show why the agent samples.
Target: ratio <= 3. Last line: `probe_ns=... empty_ns=... ratio=...`.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scapy.all import ARP, IP, TCP, UDP, Ether, IPv6, Raw, raw  # noqa: E402

from sonic_agent.bpf import BpfObject, Index, object_path  # noqa: E402
from sonic_agent.probes import kernel as k  # noqa: E402
from sonic_agent.probes.reader import ProbeMaps  # noqa: E402

PEER_MAC, SWITCH_MAC = "02:00:00:00:00:0b", "02:00:00:00:00:0a"
FRAMES = {
    "bgp": raw(Ether(src=PEER_MAC, dst=SWITCH_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") / TCP(sport=40000, dport=179) / Raw(bytes(19))),
    "arp": raw(Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="192.0.2.2", pdst="192.0.2.1")),
    "lldp": raw(Ether(src=PEER_MAC, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(bytes(60))),
    "udp4": raw(Ether(src=PEER_MAC, dst=SWITCH_MAC) / IP(src="192.0.2.2", dst="192.0.2.1") / UDP(sport=40000, dport=5000) / Raw(bytes(64))),
    "other_ip6": raw(Ether(src=PEER_MAC, dst=SWITCH_MAC) / IPv6(src="2001:db8::2", dst="2001:db8::1") / TCP(sport=40000, dport=5000)),
}
TEST_RUN_IFINDEX = 1  # BPF_PROG_TEST_RUN presents XDP frames as received on loopback


def set_sample(maps: ProbeMaps, sample: int) -> None:
    settings = k.ProbeSettings(talker_sample=sample)
    settings.grpc_ports[0], settings.grpc_ports[1] = 8080, 50051
    maps.maps[k.MAP_SETTINGS].update(Index(0), bytes(settings))


def measure(prog, frame: bytes, repeat: int, rounds: int) -> float:
    return statistics.median(prog.test_run(frame, repeat)[1] for _ in range(rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="runs per frame and program (median)")
    parser.add_argument("--sample", type=int, default=16, help="top-talker sampling, as probes.top_talker_sample")
    args = parser.parse_args()

    with BpfObject(str(object_path(k.OBJECT)), skip=(k.PROG_DROPS,)) as probe_obj, \
            BpfObject(str(object_path("empty_xdp.bpf.o"))) as empty_obj:
        probe, empty = probe_obj.program(k.PROG_XDP), empty_obj.program("empty_xdp")
        maps = ProbeMaps({name: probe_obj.map(name) for name in k.PINNED_MAPS})
        ports = maps.maps[k.MAP_PORTS]
        ports.update(k.PortKey(TEST_RUN_IFINDEX, 0), ports.zero_value())
        rows = []
        for name, frame in FRAMES.items():
            set_sample(maps, args.sample)
            p, e = measure(probe, frame, args.repeat, args.rounds), measure(empty, frame, args.repeat, args.rounds)
            set_sample(maps, 1)
            unsampled = measure(probe, frame, args.repeat, 1)
            rows.append((name, p, e, unsampled))
            print(f"{name:<10} len={len(frame):<4} probe_ns={p:<4.0f} empty_ns={e:<4.0f} "
                  f"probe_every_frame_talker_ns={unsampled:.0f}")
        counts = {c.klass: c.packets for c in maps.ports({TEST_RUN_IFINDEX: "test_run"})[0] if c.direction == "rx"}
        runs = args.repeat * (args.rounds + 1)
        wrong = {n: counts.get(n) for n in FRAMES if counts.get(n) != runs}
        if wrong:
            print(f"counting path not taken: expected {runs} per class, got {wrong}", file=sys.stderr)
            return 1
        print(f"counted: {runs} runs per frame, each in its class")
    probe_ns = statistics.mean(r[1] for r in rows)
    empty_ns = statistics.mean(r[2] for r in rows)
    unsampled_ns = statistics.mean(r[3] for r in rows)
    print(f"probe_ns={probe_ns:.1f} empty_ns={empty_ns:.1f} ratio={probe_ns / empty_ns:.2f} "
          f"sample={args.sample} unsampled_talker_ns={unsampled_ns:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
