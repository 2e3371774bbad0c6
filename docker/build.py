"""`make image`: the SONiC extension image as a docker-archive tarball, without a docker engine.

1. The base: `mmdebstrap` makes a Debian root filesystem of python3 and libbpf1 only (docs,
   man pages and locales left out), `podman import`ed as localhost/telegen-sonic-base:<key>.
2. The context: the agent's wheel and its requirements installed for the base's Python
   (binary wheels only; pygnmi's client requirements left out: the agent uses its stubs),
   the CO-RE objects of the image's arch as `make -C bpf` built them, the CLI plugins.
3. `podman build` (docker/Containerfile) with the manifest as the com.azure.sonic.manifest
   label, `podman save --format docker-archive` to build/image/telegen-sonic.tar, then the
   tarball is read back as sonic-package-manager reads it and checked (image/manifest_rules).

Both steps are cached under build/image/, keyed by what goes in: a second run with nothing
changed only prints. Last line: `image=... tarball=... size_mb=... tarball_mb=...`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Iterable, List

from docker.archive import MANIFEST_LABEL, ImageArchive
from docker.manifest_rules import problems

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "build" / "image"
TARBALL = OUT / "telegen-sonic.tar"
MANIFEST = REPO / "sonic-extension" / "manifest.json"
CLI_DIR = REPO / "sonic-extension" / "cli"
CONTAINERS_CONF = REPO / "docker" / "containers.conf"
SUITE, PYTHON = "bookworm", "3.11"  # the base's Debian and its python3
SITE_PACKAGES = f"/usr/local/lib/python{PYTHON}/dist-packages"
BASE_PACKAGES = ("python3", "libbpf1", "libstdc++6")  # libstdc++: grpcio's wheel needs it
EXCLUDED_PATHS = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
                  "/usr/share/lintian/*")
WHEEL_PLATFORM = ["--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp",
                  "--platform", "manylinux2014_x86_64"]
LEFT_OUT = {"dictdiffer"}  # pygnmi's client only (cryptography stays: TLS checks, Crypto-PAn)
ARCH = "x86"  # bpf/build/<ARCH>: the amd64 image's objects
LAUNCHER = "#!/usr/bin/python3\nimport sys\n\nfrom sonic_agent.cli import main\n\nsys.exit(main())\n"
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", ".hypothesis",
                                    ".pytest_cache")


def podman(*args: str, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, CONTAINERS_CONF=str(CONTAINERS_CONF))
    return subprocess.run(["podman", *args], env=env, **{"check": True, **kw})


def run(argv: List[str], what: str) -> None:
    """A build step, its output kept unless it fails (then its last line says why)."""
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        raise SystemExit(f"image: {what} failed: {lines[-1] if lines else done.returncode}")


def digest(paths: Iterable[Path], *extra: str) -> str:
    h = hashlib.sha256("\0".join(extra).encode())
    for path in sorted(paths):
        name = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        h.update(str(name).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:16]


def tree(*roots: Path) -> List[Path]:
    return [p for r in roots for p in ([r] if r.is_file() else r.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts]


def base_image() -> str:
    """localhost/telegen-sonic-base:<key>, made once per package list."""
    key = digest([], SUITE, *BASE_PACKAGES, *EXCLUDED_PATHS)
    name = f"localhost/telegen-sonic-base:{key}"
    if podman("image", "exists", name, check=False).returncode == 0:
        return name
    OUT.mkdir(parents=True, exist_ok=True)
    rootfs = OUT / f"base-{key}.tar"
    print(f"image: mmdebstrap {SUITE} with {', '.join(BASE_PACKAGES)}", flush=True)
    run(["mmdebstrap", "--quiet", "--variant=essential", f"--include={','.join(BASE_PACKAGES)}",
         "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",  # no usrmerge, so no perl
         *[f"--dpkgopt=path-exclude={p}" for p in EXCLUDED_PATHS], SUITE, str(rootfs)], "mmdebstrap")
    podman("import", "--quiet", str(rootfs), name, stdout=subprocess.DEVNULL)
    rootfs.unlink()
    return name


def fill_context(context: Path) -> None:
    """The Containerfile's context: site-packages/, bpf/<arch>/, cli/, the launcher."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dist = Path(tmp) / "src", Path(tmp) / "dist"
        shutil.copytree(REPO, src, ignore=NOT_SOURCE)
        pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
        run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(src)], "the agent's wheel")
        (wheel,) = dist.glob("*.whl")
        report = Path(tmp) / "report.json"
        run([*pip, "install", "--dry-run", "--ignore-installed", "--report", str(report), *WHEEL_PLATFORM,
             "--target", str(Path(tmp) / "unused"), str(wheel)], "resolving the wheel's requirements")
        resolved = [p["metadata"] for p in json.loads(report.read_text())["install"]]
        wanted = [f"{m['name']}=={m['version']}" for m in resolved
                  if m["name"].lower() not in LEFT_OUT | {"telegen-sonic"}]
        site = context / "site-packages"
        run([*pip, "install", "--no-deps", *WHEEL_PLATFORM, "--target", str(site), str(wheel), *wanted],
            "installing the wheels")
    shutil.rmtree(site / "bin", ignore_errors=True)  # scripts with this machine's interpreter path
    for tests in [p for p in site.rglob("tests") if p.is_dir()]:  # numpy's own test suites
        shutil.rmtree(tests)
    objects = REPO / "bpf" / "build" / ARCH
    if not list(objects.glob("*.bpf.o")):
        raise SystemExit(f"image: no objects in {objects} (make -C bpf)")
    shutil.copytree(objects, context / "bpf" / ARCH)
    shutil.copytree(CLI_DIR, context / "cli", ignore=shutil.ignore_patterns("__pycache__"))
    launcher = context / "telegen-sonic"
    launcher.write_text(LAUNCHER)
    launcher.chmod(0o755)


def check(archive: ImageArchive, manifest: dict) -> List[str]:
    """The tarball as sonic-package-manager reads it: the label, then every manifest rule."""
    if archive.manifest() != manifest:
        return [f"{archive.path}: the {MANIFEST_LABEL} label differs from {MANIFEST}"]
    return problems(archive.manifest(), archive.read)


def build() -> int:
    manifest = json.loads(MANIFEST.read_text())
    tag = f"localhost/telegen-sonic:{manifest['package']['version']}"
    base = base_image()
    inputs = tree(REPO / "sonic_agent", REPO / "erspan", REPO / "pyproject.toml", REPO / "README.md",
                  REPO / "bpf" / "build" / ARCH, REPO / "sonic-extension", REPO / "docker")
    key = digest(inputs, base)
    stamp = OUT / "telegen-sonic.key"
    if not (TARBALL.is_file() and stamp.is_file() and stamp.read_text() == key):
        with tempfile.TemporaryDirectory(dir=OUT) as context:
            fill_context(Path(context))
            podman("build", "--quiet", "--file", str(REPO / "docker" / "Containerfile"), "--build-arg", f"BASE={base}",
                   "--build-arg", f"SITE_PACKAGES={SITE_PACKAGES}", "--label",
                   f"{MANIFEST_LABEL}={json.dumps(manifest, separators=(',', ':'))}", "--tag", tag,
                   context, stdout=subprocess.DEVNULL)
        TARBALL.unlink(missing_ok=True)
        podman("save", "--quiet", "--format", "docker-archive", "--output", str(TARBALL), tag)
        stamp.write_text(key)
    archive = ImageArchive.open(TARBALL)
    broken = check(archive, manifest)
    for line in broken:
        print(f"image: {line}", file=sys.stderr)
    if broken:
        return 2
    print(f"image={tag} tarball={TARBALL.relative_to(REPO)} size_mb={archive.size / 1e6:.1f} "
          f"tarball_mb={TARBALL.stat().st_size / 1e6:.1f}")
    return 0


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    return build()


if __name__ == "__main__":
    sys.exit(main())
