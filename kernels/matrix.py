"""`make kernels`: the agent on SONiC's kernels, each booted under QEMU (TCG: no KVM here).

For 5.10 (bullseye: SONiC 202111-202311), 6.1 (bookworm: 202405-202505) and 6.12 (trixie:
202511 on) the guest's root filesystem is the extension image's own (`make image`, exported
with podman) packed as an initramfs, plus what only the check needs: guest_check.py and the
frames it sends (crafted here with scapy, which the image does not carry), busybox for the
init, redis-server, and the kernel's veth, sch_ingress (clsact) and cls_bpf modules. One
boot per kernel runs every check (kernels/guest_check.py); this machine's own kernel runs
them too, with the checkout's agent. One line per kernel:

    kernel=R loaded=yes attached=yes counted=N/N probe_ns=P decode_ns=D drop_reasons=yes|no agent=ok

Kernels, the root filesystem and the initramfs are cached under build/kernels/. Exit status
0 when every kernel passed (on 5.10 drop_reasons=no is expected: no drop reason before 5.17).
"""
from __future__ import annotations

import argparse
import json
import lzma
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List

from docker.build import TARBALL, digest, podman
from kernels.fetch import CACHE, SUITES, Kernel, fetch

REPO = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
MODULES = ("veth", "sch_ingress", "cls_bpf")  # =m in Debian's cloud kernels
BUSYBOX = Path("/bin/busybox")
REDIS = Path("/usr/bin/redis-server")
INIT = """#!/check/busybox sh
b=/check/busybox
$b mount -t proc proc /proc; $b mount -t sysfs sys /sys; $b mount -t devtmpfs dev /dev
$b mount -t bpf bpf /sys/fs/bpf; $b mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
$b mount -t tmpfs tmpfs /run; $b mount -t tmpfs tmpfs /tmp
for m in /check/modules/*.ko; do $b insmod $m; done
/usr/bin/python3 /check/guest_check.py /check/frames.json --redis-server /usr/bin/redis-server
$b poweroff -f
"""
QEMU = ["qemu-system-x86_64", "-accel", "tcg", "-cpu", "max", "-smp", "2", "-m", "2048", "-nographic",
        "-no-reboot", "-append", "console=ttyS0 panic=-1 quiet rdinit=/check/init"]


def frames() -> dict:
    """Frames of each probe class for both directions, ERSPAN frames for the decoder, and one
    frame each for the BPF_PROG_TEST_RUN costs: {"rx"|"tx": [[class, hex, count]], ...}."""
    from scapy.all import ARP, BOOTP, GRE, ICMP, IP, TCP, UDP, Ether, Raw, raw
    from scapy.contrib.erspan import ERSPAN_II
    from scapy.contrib.lacp import SlowProtocol

    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:99")  # nobody's: no replies
    ip = IP(src="192.0.2.1", dst="198.51.100.9")  # nobody's address on either side
    lldp = Ether(src="02:00:00:00:00:01", dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07" + b"\0" * 40)
    lacp = Ether(src="02:00:00:00:00:01", dst="01:80:c2:00:00:02") / SlowProtocol() / Raw(b"\x01" * 40)
    by_class = {
        "lldp": lldp, "lacp": lacp, "arp": eth / ARP(psrc="192.0.2.1", pdst="198.51.100.9"),
        "bgp": eth / ip / TCP(sport=40000, dport=179, flags="S"), "bfd": eth / ip / UDP(sport=49152, dport=3784),
        "dhcp": eth / ip / UDP(sport=68, dport=67) / BOOTP(), "icmp": eth / ip / ICMP(),
        "ssh": eth / ip / TCP(sport=40001, dport=22, flags="S"),
    }
    rx = [[c, raw(f).hex(), n] for n, (c, f) in enumerate(by_class.items(), start=2)]
    tx = [[c, raw(by_class[c]).hex(), n] for c, n in (("bgp", 5), ("lldp", 3), ("icmp", 4))]
    outer = Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / IP(src="10.1.0.1", dst="10.250.0.2")
    erspan = raw(outer / GRE(proto=0x88BE, seqnum_present=1, sequence_number=7) / ERSPAN_II(session_id=1)
                 / Ether() / IP(src="172.31.1.2", dst="172.31.2.2") / TCP(sport=7001, dport=443) / Raw(b"y" * 64))
    return {"rx": rx, "tx": tx, "erspan": [[erspan.hex(), 6]],
            "cost": {"probe": raw(by_class["bgp"]).hex(), "decoder": erspan.hex()}}


def rootfs(spec: dict) -> Path:
    """The image's root filesystem with the check's payload, as a cpio (newc) archive."""
    payload = {"guest_check.py": (HERE / "guest_check.py").read_bytes(), "init": INIT.encode(),
               "frames.json": json.dumps(spec, sort_keys=True).encode()}
    key = digest([TARBALL, BUSYBOX, REDIS.resolve()], *(v.decode(errors="replace") for v in payload.values()))
    cpio = CACHE / f"rootfs-{key}.cpio"
    if cpio.is_file():
        return cpio
    for old in CACHE.glob("rootfs-*.cpio"):
        old.unlink()
    root = CACHE / "rootfs"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    image = podman("load", "--quiet", "--input", str(TARBALL), capture_output=True, text=True).stdout.split()[-1]
    container = podman("create", image, capture_output=True, text=True).stdout.strip()
    try:
        exported = podman("export", container, capture_output=True).stdout
    finally:
        podman("rm", container, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(root)], input=exported, check=True)
    check = root / "check"
    check.mkdir()
    for name, data in payload.items():
        (check / name).write_bytes(data)
    (check / "init").chmod(0o755)
    shutil.copy2(BUSYBOX, check / "busybox")
    shutil.copy2(REDIS.resolve(), root / "usr/bin/redis-server")
    for lib in _libraries(REDIS):  # those of redis-server's libraries the image lacks
        if not (root / lib.lstrip("/")).exists():
            shutil.copy2(lib, root / lib.lstrip("/"))
    _pack(root, cpio)
    shutil.rmtree(root)
    return cpio


def _libraries(binary: Path) -> List[str]:
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True).stdout
    return [part.split()[2] for part in out.splitlines() if "=>" in part and len(part.split()) >= 3]


def _pack(root: Path, out: Path) -> None:
    names = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--quiet", "-o", "-H", "newc"], cwd=root, input=names, stdout=f, check=True)


def initrd(kernel: Kernel, common: Path) -> Path:
    """The common archive, then one with this kernel's modules (the kernel reads both)."""
    base = CACHE / kernel.suite
    mods = base / "modules" / "check" / "modules"
    shutil.rmtree(base / "modules", ignore_errors=True)
    mods.mkdir(parents=True)
    for name in MODULES:
        path = kernel.module(name)
        data = lzma.decompress(path.read_bytes()) if path.suffix == ".xz" else path.read_bytes()
        (mods / f"{name}.ko").write_bytes(data)
    _pack(base / "modules", base / "modules.cpio")
    shutil.rmtree(base / "modules")
    out = base / "initrd.cpio"
    with open(out, "wb") as f:
        for part in (common, base / "modules.cpio"):
            with open(part, "rb") as src:
                shutil.copyfileobj(src, f)
    return out


def boot(kernel: Kernel, common: Path, timeout: float) -> str:
    """The check's line from a boot of `kernel` (its console kept in build/kernels/<suite>/)."""
    image = initrd(kernel, common)
    try:
        done = subprocess.run([*QEMU, "-kernel", str(kernel.vmlinuz), "-initrd", str(image)], capture_output=True,
                              timeout=timeout)
        console = done.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:
        console = (exc.stdout or b"").decode(errors="replace") + f"\n(timed out after {timeout:.0f} s)"
    finally:
        image.unlink()  # a copy of the common archive: made again in a second
    (CACHE / kernel.suite / "console.log").write_text(console)
    lines = [line[line.index("kernel="):].strip() for line in console.splitlines() if "kernel=" in line]
    return lines[-1] if lines else f"kernel={kernel.release} booted=no (see {CACHE / kernel.suite / 'console.log'})"


def passed(line: str, series: str) -> bool:
    fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
    counted = fields.get("counted", "0/1").split("/")
    return (fields.get("loaded") == fields.get("attached") == "yes" and counted[0] == counted[1] != "0"
            and fields.get("agent") == "ok" and fields.get("drop_reasons") == ("no" if series == "5.10" else "yes"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="*", default=list(SUITES), choices=list(SUITES))
    parser.add_argument("--timeout", type=float, default=900, help="seconds per guest")
    args = parser.parse_args()
    if not TARBALL.is_file():
        raise SystemExit(f"kernels: {TARBALL} not built (make image)")
    spec = frames()
    CACHE.mkdir(parents=True, exist_ok=True)
    common = rootfs(spec)
    results: Dict[str, bool] = {}
    start = time.monotonic()
    for suite in args.suites:
        kernel = fetch(suite)
        line = boot(kernel, common, args.timeout)
        print(line, flush=True)
        results[suite] = passed(line, kernel.series)
    host_frames = CACHE / "frames.json"
    host_frames.write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, str(HERE / "guest_check.py"), str(host_frames)], capture_output=True,
                          text=True, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
    line = (done.stdout.strip().splitlines() or [f"kernel={os.uname().release} agent=failed"])[-1]
    print(line, flush=True)
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
    results["host"] = done.returncode == 0 and passed(line, "host")
    failed = [name for name, ok in results.items() if not ok]
    print(f"kernels: {len(results) - len(failed)} of {len(results)} passed in {time.monotonic() - start:.0f} s"
          + (f" (failed: {', '.join(failed)})" if failed else ""), file=sys.stderr)
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
