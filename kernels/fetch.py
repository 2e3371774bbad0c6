"""SONiC's kernels from Debian's own packages, cached under build/kernels/<suite>/.

SONiC builds its kernels from Debian's: 202111-202311 run bullseye's 5.10, 202405-202505
bookworm's 6.1, 202511 on trixie's 6.12 (sonic-net/SONiC doc/debian_upgrade/
SONiC_Debian_Upgrade_Cadence.md). For each suite apt gets a source list of its own (this
machine's mirrors, the suite and its security suite; the system's lists are never touched),
the newest linux-image-*-cloud-amd64-unsigned of the suite's own series that downloads is
taken (bookworm-security also lists 6.12 builds; the newest listed security build may 404)
and unpacked with dpkg-deb: boot/vmlinuz-* and (usr/)lib/modules/*.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "build" / "kernels"
SYSTEM_SOURCES = Path("/etc/apt/sources.list.d/debian.sources")
SUITES = {"bullseye": "5.10", "bookworm": "6.1", "trixie": "6.12"}  # SONiC 202111-202311, 202405-202505, 202511+
# linux-image-5.10.0-43-cloud-amd64-unsigned, linux-image-6.12.118+deb13-cloud-amd64-unsigned
PACKAGE = re.compile(r"^linux-image-(\d+\.\d+\.\d+(?:-\d+|\+deb\d+))-cloud-amd64-unsigned$")


@dataclass(frozen=True)
class Kernel:
    suite: str
    series: str  # 5.10, 6.1, 6.12
    root: Path  # the unpacked package

    @property
    def modules(self) -> Path:
        """lib/modules/<release> (usr/lib/modules/<release> from trixie on)."""
        return next(p for d in ("lib/modules", "usr/lib/modules") for p in self.root.glob(f"{d}/*"))

    @property
    def release(self) -> str:
        return self.modules.name

    @property
    def vmlinuz(self) -> Path:
        return next(self.root.glob("boot/vmlinuz-*"))

    def module(self, name: str) -> Path:
        return next(self.modules.glob(f"kernel/**/{name}.ko*"))


def mirrors() -> List[str]:
    """The Debian mirror URIs this machine's apt uses (deb822 URIs: lines)."""
    uris = re.findall(r"^URIs:\s*(\S+)", SYSTEM_SOURCES.read_text(), re.M) if SYSTEM_SOURCES.exists() else []
    main = next((u for u in uris if not u.rstrip("/").endswith("-security")), "http://deb.debian.org/debian")
    security = next((u for u in uris if u.rstrip("/").endswith("-security")), "http://deb.debian.org/debian-security")
    return [main, security]


def _apt(suite: str, state: Path) -> List[str]:
    main, security = mirrors()
    state.mkdir(parents=True, exist_ok=True)
    sources = state / "sources.list"
    sources.write_text(f"deb {main} {suite} main\ndeb {security} {suite}-security main\n")
    for d in ("lists/partial", "cache/archives/partial"):
        (state / d).mkdir(parents=True, exist_ok=True)
    return ["-o", f"Dir::Etc::SourceList={sources}", "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", f"Dir::State::Lists={state / 'lists'}", "-o", f"Dir::Cache={state / 'cache'}",
            "-o", "Dir::State::status=/dev/null", "-o", "Debug::NoLocking=1"]


def _version_key(name: str):
    return tuple(int(x) for x in re.findall(r"\d+", PACKAGE.match(name).group(1)))


def _series(name: str) -> str:
    return ".".join(PACKAGE.match(name).group(1).split(".")[:2])


def fetch(suite: str) -> Kernel:
    """The suite's newest cloud kernel, downloaded and unpacked once."""
    base = CACHE / suite
    root = base / "root"
    if (base / "unpacked").is_file():
        return Kernel(suite, SUITES[suite], root)
    base.mkdir(parents=True, exist_ok=True)
    opts = _apt(suite, base / "apt")
    subprocess.run(["apt-get", "-qq", *opts, "update"], check=True, capture_output=True, text=True)
    names = subprocess.run(["apt-cache", *opts, "pkgnames", "linux-image-"], check=True, capture_output=True,
                           text=True).stdout.split()
    series = SUITES[suite]  # bookworm's security suite also carries linux-6.12 (for the move to trixie)
    candidates = sorted((n for n in names if PACKAGE.match(n) and _series(n) == series), key=_version_key,
                        reverse=True)
    for name in candidates:
        got = subprocess.run(["apt-get", "-qq", *opts, "download", name], cwd=base, capture_output=True, text=True)
        if got.returncode == 0:
            break
    else:
        raise SystemExit(f"kernels: no {suite} cloud kernel downloads (tried {', '.join(candidates) or 'none'})")
    (deb,) = base.glob(f"{name}_*.deb")
    subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    deb.unlink()
    (base / "unpacked").write_text(name + "\n")
    return Kernel(suite, SUITES[suite], root)
